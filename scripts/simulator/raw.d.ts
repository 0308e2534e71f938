/** Page assets are bundled as text: `?raw` imports, which esbuild (scripts/simulator/build.mjs) and vitest both understand. */
declare module '*?raw' {
  const text: string;
  export default text;
}
