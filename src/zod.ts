// zod/mini, not classic zod: the same library, checks and messages, but
// tree-shakable, so a CLI process loads about 25 KB of it, not 730 KB.
// Import it as `import * as z from "./zod.js"`: the bundler then keeps only
// what is used, where a `z` object passed around would bring in all of zod.
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

export * from "zod/mini";

// zod/mini has no messages of its own; these are classic zod's English ones.
config(en());
