import type { Firewall } from "../firewall/firewall.js";

const TIMED = new Set(["add", "remove", "restore", "killStates", "setup"]);

/**
 * The same firewall, its updates timed. A Proxy rather than a subclass or a
 * copy: every other property and method is the backend's own, called on the
 * backend itself, so its state is never split between two objects.
 */
export function timedFirewall(fw: Firewall, observe: (op: string, seconds: number, ok: boolean) => void): Firewall {
  return new Proxy(fw, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name);
      if (typeof value !== "function") return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (typeof name !== "string" || !TIMED.has(name)) return fn.bind(target);
      return async (...args: unknown[]): Promise<unknown> => {
        const t0 = performance.now();
        try {
          const result = await fn.apply(target, args);
          observe(name, (performance.now() - t0) / 1000, true);
          return result;
        } catch (e) {
          observe(name, (performance.now() - t0) / 1000, false);
          throw e;
        }
      };
    },
  });
}
