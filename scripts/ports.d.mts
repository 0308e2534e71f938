/** Types for scripts/ports.mjs, so the Node suites can probe ports the way npm start does. */
export interface LocalPort {
  port: number;
  what: string;
  variable: string;
  fix: string;
}
export const DEFAULT_PORTS: { PORT: number; SIMULATOR_PORT: number; DEMO_PORT: number };
export function portProblem(port: number): Promise<'in use' | 'not allowed' | undefined>;
export function switchedOff(value: unknown): boolean;
export function localPorts(env: Record<string, string | undefined>): {
  parley: number;
  inspector: number;
  simulator?: number;
  demo?: number;
  ports: LocalPort[];
  errors: string[];
};
export function localPortProblems(env: Record<string, string | undefined>): Promise<string[]>;
