/**
 * A SAMPLE of the post-1-July-2025 two-level gazetteer (Resolution 202/2025/QH15: 34 provincial
 * units, district level abolished; cccd-facts.md §7) for the demo and the tests. Only a handful of
 * units, with illustrative codes: the real list is the registry's, pushed as data, never coded in.
 */
export const SAMPLE_GAZETTEER = [
  {
    code: '01',
    name: 'Thành phố Hà Nội',
    wards: [
      { code: '00070', name: 'Phường Hoàn Kiếm' },
      { code: '00004', name: 'Phường Ba Đình' },
      { code: '00082', name: 'Phường Cửa Nam' },
      { code: '00454', name: 'Xã Đông Anh' },
    ],
  },
  {
    code: '79',
    name: 'Thành phố Hồ Chí Minh',
    wards: [
      { code: '26734', name: 'Phường Sài Gòn' },
      { code: '26743', name: 'Phường Bến Thành' },
      { code: '27004', name: 'Phường Chợ Lớn' },
    ],
  },
  {
    code: '40',
    name: 'Tỉnh Nghệ An',
    wards: [
      { code: '16681', name: 'Phường Vinh Hưng' },
      { code: '17011', name: 'Xã An Phú' },
    ],
  },
];
