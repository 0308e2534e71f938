/** Page assets are bundled as text: `?raw` imports, which esbuild (scripts/bundle.mjs) and vitest both understand. */
declare module '*?raw' {
  const text: string;
  export default text;
}
