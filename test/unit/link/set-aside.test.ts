import { describe, expect, it } from 'vitest';
import {
  FailedTries,
  failureName,
  isStorageFailure,
  SET_ASIDE_AFTER_TRIES,
} from '../../../src/link/set-aside.js';
import { StoreClosed, StoreFull } from '../../../src/store/index.js';

describe('setting aside inbound messages that fail every try', () => {
  it('a message fails too often at its last try, and each message is counted on its own', () => {
    const tries = new FailedTries();
    for (let attempt = 1; attempt < SET_ASIDE_AFTER_TRIES; attempt++) {
      expect(tries.failedTooOften('message-a')).toBe(false);
      expect(tries.failedTooOften('message-b')).toBe(false);
    }
    expect(tries.failedTooOften('message-a')).toBe(true);
    expect(tries.triesOf('message-a')).toBe(SET_ASIDE_AFTER_TRIES);
    tries.forget('message-a');
    expect(tries.triesOf('message-a')).toBe(0);
    expect(tries.triesOf('message-b')).toBe(SET_ASIDE_AFTER_TRIES - 1);
  });

  it('remembers a bounded number of messages, forgetting the least recently failed', () => {
    const tries = new FailedTries();
    tries.failedTooOften('first');
    tries.failedTooOften('second');
    for (let i = 0; i < 1000; i++) tries.failedTooOften(`filler-${i}`);
    expect(tries.triesOf('first')).toBe(0);
    expect(tries.triesOf('second')).toBe(0);
    expect(tries.triesOf('filler-999')).toBe(1);
  });

  it('never counts a failure of the store or its disk: a full disk or a closing store passes by itself', () => {
    expect(isStorageFailure(new StoreFull('full'))).toBe(true);
    expect(isStorageFailure(new StoreClosed('closed'))).toBe(true);
    expect(isStorageFailure(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }))).toBe(true);
    expect(isStorageFailure(new Error('staging failed', { cause: new StoreFull('full') }))).toBe(true);
    expect(isStorageFailure(Object.assign(new Error('write'), { code: 'ENOSPC' }))).toBe(true);
    expect(isStorageFailure(new TypeError('a handler bug'))).toBe(false);
    expect(isStorageFailure(new Error('wrapped bug', { cause: new TypeError('x') }))).toBe(false);
    expect(isStorageFailure(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
  });

  it('reports an error by its name only, and a name that is not a plain identifier as "Error"', () => {
    expect(failureName(new TypeError('cannot read 079204000777'))).toBe('TypeError');
    const odd = new Error('x');
    odd.name = 'Lê Đức Anh 079204000777 <script>';
    expect(failureName(odd)).toBe('Error');
    expect(failureName('a thrown string')).toBe('string');
  });
});
