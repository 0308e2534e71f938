/** Types of config.mjs, for the Node tests. */
export function benchConfigText(toml: string): string;
export function writeBenchConfig(root: string): string;
