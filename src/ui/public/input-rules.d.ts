/** Types for the browser module input-rules.js (plain JS: the touchscreen app has no build step). */
export declare function normalisePhone(value: string): string | undefined;
export declare function isEmailAddress(value: string): boolean;
export declare function groupDigits(digits: string): string;
