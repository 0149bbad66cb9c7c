import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticTemplate } from '../../../devices/fingerprint/emulator.js';
import { cccdMrzFromRecord } from '../../../src/cccd/mrz.js';
import { MoveJournal } from '../../../src/kiosk/reconcile.js';
import { InventoryConflict, ManifestRejected, PickupWithdrawn, Vault } from '../../../src/kiosk/vault.js';
import { Store } from '../../../src/store/index.js';
import {
  loadOrCreateSealingIdentity,
  SealError,
  seal,
  sealingIdentityOf,
  sealingIdentityPath,
  unseal,
} from '../../../src/store/seal.js';
import { TRAN_THI_MAI } from '../../../src/demo/sample-record.js';
import { quietLogger } from '../../helpers/logs.js';

const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.stop()));
});

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vault-'));
}

async function openStore(file = join(tempDir(), 'kiosk.sqlite')): Promise<Store> {
  const store = new Store({
    file,
    synchronous: 'FULL',
    defaultTopic: 'cccd/v1/kiosk/test-0001/events',
    log: quietLogger(),
  });
  await store.start();
  opened.push(store);
  return store;
}

const identity = sealingIdentityOf(generateKeyPairSync('x25519').privateKey);

function sealedSecrets(idNumber = TRAN_THI_MAI.idNumber): string {
  return seal(
    Buffer.from(
      JSON.stringify({
        idNumber,
        mrzLines: cccdMrzFromRecord(TRAN_THI_MAI),
        fingerTemplate: syntheticTemplate('mai').toString('base64'),
      }),
    ),
    identity.publicKey,
  );
}

/** A vault with staged pickups p-1 and p-2 loaded into slots 1 and 2. */
async function vaultHolding(): Promise<{ store: Store; vault: Vault }> {
  const store = await openStore();
  const vault = new Vault(store, identity);
  for (const [pickupId, slot] of [
    ['p-1', 1],
    ['p-2', 2],
  ] as const) {
    await store.transaction((tx) =>
      vault.applyManifest(tx, { pickupId, action: 'stage', sealed: sealedSecrets() }),
    );
    await vault.loadCard(pickupId, slot);
  }
  return { store, vault };
}

describe('seal (X25519 + HKDF-SHA256 + AES-256-GCM)', () => {
  it('round-trips any bytes, and only with the recipient key', () => {
    const other = generateKeyPairSync('x25519').privateKey;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const box = seal(Buffer.from(bytes), identity.publicKey);
        expect(unseal(box, identity.privateKey).equals(Buffer.from(bytes))).toBe(true);
        expect(() => unseal(box, other)).toThrow(SealError);
      }),
      { numRuns: 200 },
    );
  });

  it('any damaged box is a SealError, never a crash or a wrong plaintext', () => {
    const box = Buffer.from(seal(Buffer.from('secret'), identity.publicKey), 'base64');
    fc.assert(
      fc.property(fc.nat(box.length - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const damaged = Buffer.from(box);
        damaged[index] = (damaged[index] ?? 0) ^ flip;
        expect(() => unseal(damaged.toString('base64'), identity.privateKey)).toThrow(SealError);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(() => unseal(text, identity.privateKey)).toThrow(SealError);
      }),
    );
  });

  it('makes the key pair file at first start (PKCS#8 PEM, 0600) and reuses it', () => {
    const file = sealingIdentityPath(tempDir());
    const first = loadOrCreateSealingIdentity(file);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toContain('BEGIN PRIVATE KEY');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = loadOrCreateSealingIdentity(file);
    expect(again.publicKeyBase64).toBe(first.publicKeyBase64);
    expect(again.lookupHash('001195012345')).toBe(first.lookupHash('001195012345'));
    expect(first.lookupHash('001195012345')).not.toBe(identity.lookupHash('001195012345'));
  });
});

describe('vault inventory (migration 3)', () => {
  it('every card has exactly one state; slots are unique; a held slot needs a slot number', async () => {
    const store = await openStore();
    const vault = new Vault(store, identity);
    await store.transaction((tx) =>
      vault.applyManifest(tx, { pickupId: 'p-1', action: 'stage', sealed: sealedSecrets() }),
    );
    await store.transaction((tx) =>
      vault.applyManifest(tx, { pickupId: 'p-2', action: 'stage', sealed: sealedSecrets('079204000777') }),
    );
    await vault.loadCard('p-1', 3);
    await expect(vault.loadCard('p-2', 3)).rejects.toThrow(/UNIQUE/);
    await expect(vault.loadCard('p-1', 4)).rejects.toThrow(/UNIQUE|PRIMARY/);
    await expect(
      store.transaction((tx) => tx.run(`UPDATE vault_cards SET slot = NULL WHERE pickup_id = 'p-1'`)),
    ).rejects.toThrow(/CHECK/);
    await expect(
      store.transaction((tx) => tx.run(`UPDATE vault_cards SET state = 'lost' WHERE pickup_id = 'p-1'`)),
    ).rejects.toThrow(/CHECK/);
    await expect(
      store.transaction((tx) => tx.run(`UPDATE vault_cards SET state = 'dispensed' WHERE pickup_id = 'p-1'`)),
    ).rejects.toThrow(/CHECK/);
    expect(await vault.inventory()).toMatchObject({ 'in-slot': 1, dispensed: 0 });
  });

  it('looks citizens up by a keyed hash only: no ID number or name in clear in the file', async () => {
    const store = await openStore();
    const vault = new Vault(store, identity);
    await store.transaction((tx) =>
      vault.applyManifest(tx, { pickupId: 'p-1', action: 'stage', sealed: sealedSecrets() }),
    );
    await vault.loadCard('p-1', 0);
    expect(await vault.findReady('id', TRAN_THI_MAI.idNumber)).toMatchObject({ pickupId: 'p-1', slot: 0 });
    expect(await vault.findReady('id', '079204000777')).toBeUndefined();
    expect(await vault.findReady('code', 'p-1')).toMatchObject({ pickupId: 'p-1' });
    await store.stop();
    const bytes = readFileSync(store.file);
    const wal = existsSync(`${store.file}-wal`) ? readFileSync(`${store.file}-wal`) : Buffer.alloc(0);
    for (const file of [bytes, wal]) {
      expect(file.includes(TRAN_THI_MAI.idNumber)).toBe(false);
      expect(file.includes('TRAN<<THI<MAI')).toBe(false);
      expect(file.includes(Buffer.from(TRAN_THI_MAI.fullName))).toBe(false);
    }
  });

  it('completion and its event commit together; a card cannot be completed twice', async () => {
    const store = await openStore();
    const vault = new Vault(store, identity);
    await store.transaction((tx) =>
      vault.applyManifest(tx, { pickupId: 'p-1', action: 'stage', sealed: sealedSecrets() }),
    );
    await vault.loadCard('p-1', 1);
    await vault.markAtStation('p-1');
    await vault.markInTray('p-1');
    await vault.complete('p-1', 1);
    await expect(vault.complete('p-1', 1)).rejects.toBeInstanceOf(InventoryConflict);
    const events = await store.outboxPage(0, 100);
    expect(events.filter((e) => e.type === 'pickup.completed')).toHaveLength(1);
    expect(await vault.card('p-1')).toEqual({ state: 'dispensed', slot: null });
    // the slot is free again for another card
    await store.transaction((tx) =>
      vault.applyManifest(tx, { pickupId: 'p-2', action: 'stage', sealed: sealedSecrets('079204000777') }),
    );
    await vault.loadCard('p-2', 1);
  });

  it('a card marked in the tray but found at the station after a crash goes back into its slot', async () => {
    const store = await openStore();
    const vault = new Vault(store, identity);
    await store.transaction((tx) =>
      vault.applyManifest(tx, { pickupId: 'p-1', action: 'stage', sealed: sealedSecrets() }),
    );
    await vault.loadCard('p-1', 4);
    await vault.markAtStation('p-1');
    await vault.markInTray('p-1'); // written before PRESENT; the kiosk died before the move
    expect(await vault.inTransit()).toEqual([{ pickupId: 'p-1', state: 'in-tray', slot: 4 }]);
    await vault.markBackInSlot('p-1');
    expect(await vault.card('p-1')).toEqual({ state: 'in-slot', slot: 4 });
    expect(await vault.inTransit()).toEqual([]);
  });

  it('a pickup withdrawn mid-session: its card neither leaves the slot nor goes on to the tray', async () => {
    const { store, vault } = await vaultHolding();
    const withdraw = (pickupId: string) =>
      store.transaction((tx) => vault.applyManifest(tx, { pickupId, action: 'withdraw' }));
    await withdraw('p-1'); // while the citizen is at the finger sensor
    await expect(vault.markAtStation('p-1')).rejects.toBeInstanceOf(PickupWithdrawn);
    expect(await vault.card('p-1')).toEqual({ state: 'in-slot', slot: 1 });
    await vault.markAtStation('p-2');
    await withdraw('p-2'); // while the chip is being checked
    await expect(vault.markInTray('p-2')).rejects.toBeInstanceOf(PickupWithdrawn);
    expect(await vault.card('p-2')).toEqual({ state: 'at-station', slot: 2 });
    await vault.markBackInSlot('p-2');
    await vault.withdrawCard('p-2'); // the technician takes it out
    expect(await vault.inventory()).toMatchObject({ 'in-slot': 1, withdrawn: 1, 'in-tray': 0 });
  });

  it('staff clear a card left outside its slot: back in the slot, or the bin told to the registry; the journal goes', async () => {
    const { store, vault } = await vaultHolding();
    const journal = new MoveJournal(store);
    await expect(vault.clearByStaff(1, 'slot')).rejects.toBeInstanceOf(InventoryConflict);
    // p-1 caught between the slot and the station; later p-2 between the station and the tray
    await vault.markAtStation('p-1');
    await journal.sent('moveToStation', 1);
    expect(await vault.clearByStaff(1, 'slot')).toEqual({ pickupId: 'p-1' });
    expect(await vault.card('p-1')).toEqual({ state: 'in-slot', slot: 1 });
    expect(await journal.last()).toBeUndefined();
    await vault.markAtStation('p-2');
    await vault.markInTray('p-2');
    await journal.sent('present', 2);
    await vault.clearByStaff(2, 'bin');
    expect(await vault.card('p-2')).toEqual({ state: 'captured', slot: null });
    expect(await journal.last()).toBeUndefined();
    const events = (await store.outboxPage(0, 100)).filter((e) => e.type === 'pickup.retracted');
    expect(events.map((e) => JSON.parse(e.body) as unknown)).toEqual([
      { pickupId: 'p-2', slot: 2, reason: 'removed-by-staff' },
    ]);
    // the card left the vault: its sealed secrets went with it
    const sealed = await store
      .read()
      .get<{ sealed: string }>(`SELECT sealed FROM vault_manifest WHERE pickup_id = 'p-2'`);
    expect(sealed?.sealed).toBe('');
    const audit = await store
      .read()
      .all<{ actor: string; action: string }>(
        `SELECT actor, action FROM audit WHERE action = 'vault.cleared'`,
      );
    expect(audit).toEqual([
      { actor: 'staff', action: 'vault.cleared' },
      { actor: 'staff', action: 'vault.cleared' },
    ]);
  });

  it('a manifest entry sealed to another kiosk is rejected', async () => {
    const store = await openStore();
    const vault = new Vault(store, identity);
    const foreign = seal(Buffer.from('{}'), generateKeyPairSync('x25519').publicKey);
    await expect(
      store.transaction((tx) =>
        vault.applyManifest(tx, { pickupId: 'p-9', action: 'stage', sealed: foreign }),
      ),
    ).rejects.toBeInstanceOf(ManifestRejected);
  });
});
