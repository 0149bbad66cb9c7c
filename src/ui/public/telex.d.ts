/** Types for the browser module telex.js (plain JS: the touchscreen app has no build step). */
export declare function telexKey(text: string, key: string): string;
export declare function telex(keys: string): string;
export declare function toneIndex(letters: string[]): number;
