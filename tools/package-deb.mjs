// `npm run package`: iblock_VERSION_ARCH.deb, made with dpkg-deb from the build
// in dist/bin (run `npm run build` first; the npm script does). Runs under tsx:
// the systemd units come from the code `iblock setup systemd` prints them with,
// made from the config the package installs, so they are the same text.
//
// node tools/package-deb.mjs [OUTDIR]   (default dist/)
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { parse as parseToml } from "smol-toml";
import { DEFAULT_CONFIG_FILE, validateConfig } from "../src/config.ts";
import { systemdService, systemdSocket } from "../src/setup/services.ts";

const OUT = process.argv[2] ?? "dist";
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const arch = execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8" }).trim();
// better-sqlite3's .node is built for the Node that ran `npm ci`: this one.
const nodeMajor = Number(process.versions.node.split(".")[0]);
const nodeAbi = process.versions.modules;
const LIB = "usr/lib/iblock";
const PROGRAM = "/usr/sbin/iblock";
// In the modules: their authors' development files (lintian's errors: eslint configs, .npmignore).
const DEVELOPMENT_FILE = /^(\..*|eslint\.config\..*)$/;
const SQLITE_NODE = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
const maintainer = process.env.DEBEMAIL ? `${process.env.DEBFULLNAME ?? "iblock"} <${process.env.DEBEMAIL}>` : "iblock maintainers <iblock@example.org>";

if (!existsSync("dist/bin/cli.cjs") || !existsSync("dist/bin/main.cjs.cache")) {
  process.stderr.write("package: no build in dist/bin: run npm run build first\n");
  process.exit(1);
}

const stage = mkdtempSync(join(tmpdir(), "iblock-deb-"));
try {
  const root = (p) => join(stage, p);
  const put = (p, text, mode = 0o644) => {
    mkdirSync(dirname(root(p)), { recursive: true });
    writeFileSync(root(p), text);
    chmodSync(root(p), mode);
  };

  // The program: the build, the dashboard, package.json (its version), the production modules.
  cpSync("dist/bin", root(`${LIB}/dist/bin`), { recursive: true });
  cpSync("assets", root(`${LIB}/assets`), { recursive: true });
  cpSync("package.json", root(`${LIB}/package.json`));
  const modules = productionModules();
  for (const dir of modules) {
    cpSync(dir, root(`${LIB}/${dir}`), { recursive: true, filter: (src) => keepModuleFile(dir, src) });
  }
  mkdirSync(root("usr/sbin"), { recursive: true });
  // A link, so argv[1] is /usr/sbin/iblock: `iblock setup ...` then prints that path.
  symlinkSync(relative("/usr/sbin", `/${LIB}/dist/bin/cli.cjs`), root("usr/sbin/iblock"));

  // The config the package installs, commented: every key at its default.
  const configText = readFileSync("contrib/iblock.toml", "utf8");
  put(DEFAULT_CONFIG_FILE.slice(1), configText);
  const config = validateConfig(parseToml(configText), DEFAULT_CONFIG_FILE, {});
  put("usr/lib/systemd/system/iblock.service", systemdService(config, PROGRAM, {}));
  put("usr/lib/systemd/system/iblock.socket", systemdSocket(config));

  put("usr/share/man/man8/iblock.8.gz", gzipSync(readFileSync("iblock.8"), { level: 9 }));
  put("usr/share/doc/iblock/copyright", copyright(modules));
  put("usr/share/doc/iblock/changelog.gz", gzipSync(changelog(), { level: 9 }));

  // As dh_strip does: no symbols a running iblock never reads (half the file).
  execFileSync("strip", ["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", root(`${LIB}/${SQLITE_NODE}`)]);
  normalizeModes(stage);
  chmodSync(stage, 0o755);
  chmodSync(root(`${LIB}/dist/bin/cli.cjs`), 0o755);

  for (const script of ["postinst", "prerm", "postrm"]) put(`DEBIAN/${script}`, readFileSync(`tools/deb/${script}`), 0o755);
  put("DEBIAN/conffiles", `${DEFAULT_CONFIG_FILE}\n`);
  put("DEBIAN/md5sums", md5sums(stage));
  put("DEBIAN/control", control(installedSize(stage), sharedLibraryDepends(root(`${LIB}/${SQLITE_NODE}`))));

  mkdirSync(OUT, { recursive: true });
  const deb = join(OUT, `iblock_${pkg.version}_${arch}.deb`);
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", stage, deb], { stdio: ["ignore", "ignore", "inherit"] });
  process.stdout.write(`${deb}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

/** The folders under node_modules that `npm ci --omit=dev` installs, as package-lock.json lists them. */
function productionModules() {
  const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith("node_modules/") && !entry.dev && existsSync(path))
    .map(([path]) => path);
}

/**
 * One module's own files: its nested node_modules are modules of their own
 * (listed apart, dev ones left out). Of better-sqlite3 only what runs: its
 * JavaScript and the built .node, not the SQLite sources and objects (26 MB).
 */
function keepModuleFile(dir, src) {
  const rel = relative(dir, src);
  if (rel === "node_modules" || rel.startsWith("node_modules/")) return false;
  if (DEVELOPMENT_FILE.test(basename(src)) || ["test", "tests", "integration"].includes(rel)) return false;
  if (dir !== "node_modules/better-sqlite3") return true;
  if (["deps", "src", "binding.gyp"].includes(rel)) return false;
  if (rel.startsWith("build")) return ["build", "build/Release", "build/Release/better_sqlite3.node"].includes(rel);
  return true;
}

/** Debian's modes: no file writable by others, executables only where meant (set after this). */
function normalizeModes(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const s = statSync(path, { throwIfNoEntry: false });
    if (s === undefined) continue; // the /usr/sbin/iblock link, before its target is counted
    if (s.isDirectory()) {
      chmodSync(path, 0o755);
      normalizeModes(path);
    } else {
      chmodSync(path, 0o644);
    }
  }
}

function filesUnder(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return relative(base, path) === "DEBIAN" ? [] : filesUnder(path, base);
    return e.isFile() ? [relative(base, path)] : [];
  });
}

function md5sums(dir) {
  return filesUnder(dir)
    .filter((f) => !f.startsWith("etc/"))
    .sort()
    .map((f) => `${createHash("md5").update(readFileSync(join(dir, f))).digest("hex")}  ${f}\n`)
    .join("");
}

/** Installed-Size: KiB, each file rounded up to a KiB as dpkg-gencontrol counts. */
function installedSize(dir) {
  return filesUnder(dir).reduce((kib, f) => kib + Math.ceil(statSync(join(dir, f)).size / 1024), 0);
}

/** The Debian packages the native module links against (libc6, libstdc++6, ...), as dpkg-shlibdeps finds them. */
function sharedLibraryDepends(file) {
  const scratch = mkdtempSync(join(tmpdir(), "iblock-shlibs-"));
  try {
    mkdirSync(join(scratch, "debian"));
    writeFileSync(join(scratch, "debian/control"), "Source: iblock\n\nPackage: iblock\nArchitecture: any\n");
    const out = execFileSync("dpkg-shlibdeps", ["-O", "--warnings=0", file], { cwd: scratch, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    const line = out.split("\n").find((l) => l.startsWith("shlibs:Depends="));
    if (!line) throw new Error(`dpkg-shlibdeps found no libraries for ${file}`);
    return line.slice("shlibs:Depends=".length);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function control(sizeKib, shlibs) {
  return `Package: iblock
Version: ${pkg.version}
Architecture: ${arch}
Maintainer: ${maintainer}
Installed-Size: ${sizeKib}
Depends: nodejs (>= ${nodeMajor}), nodejs (<< ${nodeMajor + 1}), nftables, conntrack, iproute2, procps, ${shlibs}
Section: net
Priority: optional
Description: ban scanners that touch unused TCP ports (nftables)
 iblock bans, in the host's nftables firewall, whoever completes a TCP
 handshake to a port nobody serves on the host (telnet, SMB, RDP, MySQL...),
 keeps every ban in an SQLite store and lengthens the bans of repeat
 offenders.
 .
 Installing bans nothing: the systemd units are installed, not enabled. Edit
 /etc/iblock.toml (put your own networks in allow), then
 systemctl enable --now iblock.socket iblock.service. Removing the package
 stops the service and takes iblock's nftables table away; purging also
 removes the store in /var/lib/iblock.
 .
 Its SQLite module is built for Node ${nodeMajor} (NODE_MODULE_VERSION ${nodeAbi}),
 hence the nodejs version in Depends.
`;
}

function copyright(modules) {
  const bundled = modules
    .map((dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")))
    .map((m) => ` ${m.name} ${m.version}: ${typeof m.license === "string" ? m.license : "see its folder"}`)
    .sort()
    .join("\n");
  return `iblock ${pkg.version}

Copyright (C) the iblock authors
License: ISC

 Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.

 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

Bundled in /usr/lib/iblock/node_modules, each with its licence in its own
folder (name, version, licence). On Debian the Apache License, Version 2.0,
is in /usr/share/common-licenses/Apache-2.0.

${bundled}
`;
}

/** A native package's changelog: one entry, this version. */
function changelog() {
  const date = execFileSync("date", ["-R", "-u", "-d", `@${sourceDateEpoch()}`], { encoding: "utf8" }).trim();
  return `iblock (${pkg.version}) unstable; urgency=medium

  * Built from the iblock source tree by npm run package.

 -- ${maintainer}  ${date}
`;
}

/** The last commit's time when there is one (the same build gives the same changelog), else now. */
function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return process.env.SOURCE_DATE_EPOCH;
  try {
    return execFileSync("git", ["log", "-1", "--format=%ct"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || String(Math.floor(Date.now() / 1000));
  } catch {
    return String(Math.floor(Date.now() / 1000));
  }
}
