// Prometheus text format, read by a parser that is not ours
// (parse-prometheus-text-format), so the test checks the format too.
import { createRequire } from "node:module";

interface Family {
  name: string;
  type: string;
  help: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

const parse = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => Family[];

/** Parsed metrics; `value(name, labels)` is the sample whose labels include those given (undefined: none). */
export function parseMetrics(text: string): { families: Family[]; value(name: string, labels?: Record<string, string>): number | undefined } {
  const families = parse(text);
  return {
    families,
    value(name, labels = {}) {
      const f = families.find((x) => x.name === name);
      const m = f?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
      // This parser keeps a histogram's buckets only: its +Inf bucket is the count.
      const inf = m?.buckets?.["+Inf"];
      return m?.value !== undefined ? Number(m.value) : inf !== undefined ? Number(inf) : undefined;
    },
  };
}
