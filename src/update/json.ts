/** JSON value types as @tufjs/models uses them (it does not export its own). */
export type JSONValue = string | number | boolean | null | JSONValue[] | JSONObject;
export interface JSONObject {
  [key: string]: JSONValue;
}
