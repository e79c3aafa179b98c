"""Replay traces on another kernel version, booted under qemu (targets ``qemu:X.Y``).

The kernel is Debian's ``linux-image-X.Y…-cloud-amd64-unsigned`` package, fetched
with ``apt-get download`` into the replay cache (nothing is installed on the
system) and unpacked with ``dpkg-deb``; its compressed bzImage is turned into the
plain ELF vmlinux once, because qemu boots that directly (PVH entry) and the guest
then skips a slow decompression under emulation. The exact build is recorded next
to the image (``image.json``), since the registry keeps only the newest build.

The guest is a small initramfs: a static busybox, an ``/init`` script and the same
agent.c as the live replay, linked statically. Each VM is booted once and then
serves batches over its second serial port (the host side is qemu's standard input
and output): the host sends a group of traces that need the same global knobs (huge
page pool, vm.max_map_count) as a gzip-compressed agent input; ``/init`` sets the
knobs (the guest is root and owns them: the host's knobs are never touched), runs
the agent, and sends back its output. The first serial port carries the kernel
console, kept in a file for error messages.

A VM always stops: the host sends a quit command when it is done (and at exit),
kills a VM that misses a deadline, ``panic=-1`` with ``-no-reboot`` ends qemu on a
kernel panic, and a guest that hears nothing for IDLE_SECONDS powers itself off, so
even the VM of a killed host process goes away. If a VM stops in the middle of a
group, the group runs again on a new VM with the agent's output streamed as it is
written, so that the trace that was running is found and reported as failed, and
the traces after it still run.

Throughput comes from booting once per VM and from running ``jobs`` VMs side by
side (one emulated CPU each).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import atexit
import queue
import select
import weakref

from mmsem.semantics.replay import ReplayUnavailable
from mmsem.semantics.replay.live import AGENT_SOURCE, Calibration, LiveKernel, cache_dir, parse_calibration
from mmsem.semantics.runner import TraceResult
from mmsem.semantics.state import Outside, System
from mmsem.semantics.trace import Trace
from mmsem.spec import default_spec
from mmsem.spec.model import Spec

#: The guest's memory: enough for traces and a small huge page pool.
GUEST_MEMORY_MB = 512
#: vm.max_map_count of a fresh kernel (the guest reports its own value at boot).
DEFAULT_MAX_MAP_COUNT = 65530
#: The lowest vm.max_map_count the guest is given: a trace that wants less gets filler
#: mappings instead (see QemuKernel.system_limit). A lower limit could starve /init, and
#: the VM would die with it.
MAP_COUNT_FLOOR = 256
#: Seconds a VM may take to boot to its /init.
BOOT_SECONDS = 60.0
#: The host-side deadline of one group: this plus PER_TRACE_SECONDS per trace. A trace
#: that hangs is stopped inside the guest by the agent's own per-trace alarm first.
GROUP_SECONDS = 30.0
PER_TRACE_SECONDS = 1.0
#: A guest that receives no command for this long powers off.
IDLE_SECONDS = 60
#: The emulated CPU: qemu's "max" model less the features the live machine lacks and that
#: change what traces see: protection keys (with PKU the kernel makes PROT_EXEC-only
#: mappings execute-only, so reads fault and MAP_LOCKED populates nothing) and 5-level
#: paging (a 56-bit user address space).
QEMU_CPU = "max,pku=off,la57=off"
#: Kernel command line. The console is the first serial port; quiet keeps it short.
#: THP "madvise" is the live machine's mode (Debian's default is "always"); the agent
#: disables THP per trace anyway.
KERNEL_APPEND = "console=ttyS0 panic=-1 quiet loglevel=1 transparent_hugepage=madvise"


def guest_sysctls() -> dict:
    """Knobs the guest sets once after boot, so that its system is the one the engine models.

    Debian builds with vm.mmap_min_addr 65536; the engine's system, like the live machine,
    has 4096 (a configuration, not a version difference).
    """
    return {"vm/mmap_min_addr": System.__dataclass_fields__["mmap_min_addr"].default}


_VERSION = re.compile(r"^\d+\.\d+$")


# -- tools ----------------------------------------------------------------------------------

def need_tool(name: str, package: str, purpose: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ReplayUnavailable(f"{purpose} needs {name}, which is not installed (apt-get install {package})")
    return path


def is_static_elf(path: Path) -> bool:
    """An ELF executable without a program interpreter (so it runs without a libc in the guest)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # PT_INTERP


def find_busybox() -> Path:
    """A statically linked busybox for the guest (MMSEM_BUSYBOX, or busybox-static's)."""
    candidates = [os.environ.get("MMSEM_BUSYBOX"), "/bin/busybox", "/usr/bin/busybox", shutil.which("busybox")]
    for candidate in candidates:
        if candidate and is_static_elf(Path(candidate)):
            return Path(candidate)
    raise ReplayUnavailable("the qemu replay needs a statically linked busybox (apt-get install busybox-static)")


def find_qemu() -> str:
    return need_tool("qemu-system-x86_64", "qemu-system-x86", "the qemu replay")


# -- the kernel image ---------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelImage:
    """A cached Debian kernel image and what exactly it is."""

    version: str  # "6.1": the target and engine profile
    package: str  # linux-image-6.1.0-56-cloud-amd64-unsigned
    package_version: str  # 6.1.192-2
    release: str  # 6.1.0-56-cloud-amd64 (uname -r)
    banner: str  # the image's version string
    vmlinuz: Path
    vmlinux: Path | None  # the uncompressed kernel, when it could be extracted

    @property
    def boot_file(self) -> Path:
        return self.vmlinux or self.vmlinuz

    def describe(self) -> str:
        return f"Linux {self.release} (Debian {self.package_version}, package {self.package})"


def kernels_dir() -> Path:
    return cache_dir() / "kernels"


def cached_kernel(version: str) -> KernelImage | None:
    """The image fetched earlier for X.Y, or None."""
    record = kernels_dir() / version / "image.json"
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    where = record.parent
    vmlinux = where / data["vmlinux"] if data.get("vmlinux") else None
    image = KernelImage(data["version"], data["package"], data["package_version"], data["release"],
                        data.get("banner", ""), where / data["vmlinuz"], vmlinux)
    if not image.vmlinuz.is_file() or (vmlinux is not None and not vmlinux.is_file()):
        return None
    return image


def cached_kernels() -> list[KernelImage]:
    """Every image in the cache, oldest version first."""
    root = kernels_dir()
    names = [p.name for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name)] if root.is_dir() else []
    return [image for image in map(cached_kernel, sorted(names, key=_version_key)) if image is not None]


def _version_key(text: str) -> tuple:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def find_image_package(version: str) -> tuple[str, str]:
    """(package, candidate version) of the newest Debian cloud image package for Linux X.Y."""
    apt_cache = need_tool("apt-cache", "apt", "finding a kernel image package")
    pattern = rf"^linux-image-{re.escape(version)}[.-].*-cloud-amd64-unsigned$"
    found = subprocess.run([apt_cache, "search", "--names-only", pattern], capture_output=True, text=True)
    names = sorted({line.split(" ", 1)[0] for line in found.stdout.splitlines() if line.strip()})
    if found.returncode != 0 or not names:
        raise ReplayUnavailable(f"no Debian kernel image package for Linux {version} "
                                f"(apt-cache search found no linux-image-{version}*-cloud-amd64-unsigned; run apt-get update?)")
    policy = subprocess.run([apt_cache, "policy", *names], capture_output=True, text=True)
    candidates = []
    current = None
    for line in policy.stdout.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:"):
            candidate = line.split(":", 1)[1].strip()
            if candidate != "(none)" and candidate.startswith(version + "."):
                candidates.append((_version_key(candidate), current, candidate))
    if not candidates:
        raise ReplayUnavailable(f"no downloadable Debian kernel image package for Linux {version} "
                                f"(candidates: {', '.join(names)})")
    _, package, candidate = max(candidates)
    return package, candidate


def bzimage_banner(data: bytes) -> str:
    """The version string of an x86 bzImage ('6.1.0-56-cloud-amd64 (…) #1 SMP … Debian 6.1.192-2 …')."""
    if len(data) < 0x210 or data[0x202:0x206] != b"HdrS":
        return ""
    pointer, = struct.unpack_from("<H", data, 0x20E)
    start = pointer + 0x200
    end = data.find(b"\0", start, start + 512)
    return data[start:end].decode(errors="replace") if end > start else ""


def _lz4_legacy(payload: bytes) -> bytes | None:
    """Decompress the kernel's LZ4 'legacy' stream with liblz4 (None without the library)."""
    name = ctypes.util.find_library("lz4") or "liblz4.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.LZ4_decompress_safe.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    block = 8 << 20  # the legacy format's block size
    out = []
    buffer = ctypes.create_string_buffer(block)
    i = 4
    while i + 4 <= len(payload):
        size, = struct.unpack_from("<I", payload, i)
        if size == 0x184C2102:  # another stream follows
            i += 4
            continue
        if size > len(payload) - i - 4:  # the trailing size word the kernel build appends
            break
        done = lib.LZ4_decompress_safe(payload[i + 4:i + 4 + size], buffer, size, block)
        if done < 0:
            return None
        out.append(buffer.raw[:done])
        i += 4 + size
    return b"".join(out)


def extract_vmlinux(data: bytes) -> bytes | None:
    """The uncompressed ELF kernel inside an x86 bzImage, or None if its compression is not handled."""
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        return None
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = data[start:start + length]
    out = None
    try:
        if payload[:4] == b"\x02\x21\x4c\x18":
            out = _lz4_legacy(payload)
        elif payload[:2] == b"\x1f\x8b":
            out = zlib.decompressobj(wbits=31).decompress(payload)  # trailing bytes are ignored
        elif payload[:6] == b"\xfd7zXZ\x00":
            out = lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(payload)
        elif payload[:1] == b"\x5d":
            out = lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(payload)
    except (OSError, EOFError, lzma.LZMAError):
        return None
    if out is None or out[:4] != b"\x7fELF":
        return None
    return out


def fetch_kernel(version: str, refresh: bool = False) -> KernelImage:
    """The Debian kernel image for Linux X.Y, downloaded and unpacked into the cache if needed.

    With refresh, the registry is asked for its newest build even when one is cached.
    """
    if not _VERSION.match(version):
        raise ReplayUnavailable(f"kernel version {version!r} is not of the form X.Y (e.g. 6.1)")
    cached = cached_kernel(version)
    if cached is not None and not refresh:
        return cached
    apt_get = need_tool("apt-get", "apt", "fetching a kernel image")
    dpkg_deb = need_tool("dpkg-deb", "dpkg", "unpacking a kernel image")
    tar = need_tool("tar", "tar", "unpacking a kernel image")
    package, package_version = find_image_package(version)
    if cached is not None and (cached.package, cached.package_version) == (package, package_version):
        return cached
    root = kernels_dir()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".fetch-{version}-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # apt's download user may then write here (else apt warns)
        got = subprocess.run([apt_get, "download", f"{package}={package_version}"], cwd=work,
                             capture_output=True, text=True)
        debs = sorted(work.glob("*.deb"))
        if got.returncode != 0 or not debs:
            message = (got.stderr.strip().splitlines() or ["no .deb file"])[-1]
            raise ReplayUnavailable(f"apt-get download {package} failed: {message}")
        unpack = subprocess.Popen([dpkg_deb, "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        untar = subprocess.run([tar, "-x", "-C", str(work), "./boot"], stdin=unpack.stdout,
                               capture_output=True, text=True)
        unpack.stdout.close()
        unpack_err = unpack.stderr.read().decode(errors="replace")
        unpack.wait()
        images = sorted((work / "boot").glob("vmlinuz-*"))
        if unpack.returncode != 0 or untar.returncode != 0 or not images:
            message = (unpack_err.strip() or untar.stderr.strip() or "no boot/vmlinuz-* in the package")
            raise ReplayUnavailable(f"unpacking {debs[0].name} failed: {message.splitlines()[-1]}")
        vmlinuz = images[0]
        release = vmlinuz.name.removeprefix("vmlinuz-")
        data = vmlinuz.read_bytes()
        target = work / "image"
        target.mkdir()
        shutil.move(str(vmlinuz), target / vmlinuz.name)
        elf = extract_vmlinux(data)
        vmlinux_name = None
        if elf is not None:
            vmlinux_name = f"vmlinux-{release}"
            (target / vmlinux_name).write_bytes(elf)
        record = {"version": version, "package": package, "package_version": package_version,
                  "release": release, "banner": bzimage_banner(data), "vmlinuz": vmlinuz.name,
                  "vmlinux": vmlinux_name, "deb_sha256": hashlib.sha256(debs[0].read_bytes()).hexdigest(),
                  "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (target / "image.json").write_text(json.dumps(record, indent=2) + "\n")
        final = root / version
        if final.exists():
            old = work / "old"
            os.replace(final, old)
        os.replace(target, final)
    image = cached_kernel(version)
    if image is None:
        raise ReplayUnavailable(f"the kernel image for {version} vanished from {root} after fetching")
    return image


# -- the guest -----------------------------------------------------------------------------------

#: /init of the guest. After boot it reports the default vm.max_map_count (M), sets the
#: fixed knobs of /sysctl and reports them as read back (P), then says READY. Then it
#: serves commands on the second serial port (raw mode, no echo):
#:   G pool max_map_count size   a group: `size` bytes of gzip-compressed agent input follow;
#:                               answered by "G pool max_map_count" (the knobs as read back),
#:                               the agent's output, and "E status" (the agent's exit status)
#:   S pool max_map_count size   the same, with the agent's output streamed as it is written
#:                               (slower; used to find the trace that stopped a VM)
#:   Q                           power off (so does anything else, EOF, or IDLE_SECONDS of silence)
INIT_SCRIPT = f"""#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t devtmpfs dev /dev
$B mount -t tmpfs tmp /tmp
$B stty -F /dev/ttyS1 raw -echo -ixon -ixoff -istrip cs8 -parenb
exec 3>/dev/ttyS1 4</dev/ttyS1
mmc=$($B cat /proc/sys/vm/max_map_count)
echo "M $mmc" >&3
while read key value; do
  echo "$value" > /proc/sys/$key
  echo "P $key $($B cat /proc/sys/$key)" >&3
done < /sysctl
echo READY >&3
while read -t {IDLE_SECONDS} cmd pool limit size <&4; do
  case "$cmd" in G|S) ;; *) break ;; esac
  $B head -c "$size" <&4 | $B gunzip > /tmp/in
  echo "$pool" > /proc/sys/vm/nr_hugepages
  echo "$limit" > /proc/sys/vm/max_map_count
  got_pool=$($B cat /proc/sys/vm/nr_hugepages)
  got_limit=$($B cat /proc/sys/vm/max_map_count)
  if [ "$cmd" = S ]; then
    echo "G $got_pool $got_limit" >&3
    /agent < /tmp/in >&3
    status=$?
  else
    /agent < /tmp/in > /tmp/out
    status=$?
    echo "G $got_pool $got_limit" >&3
    $B cat /tmp/out >&3
  fi
  echo "$mmc" > /proc/sys/vm/max_map_count
  echo "E $status" >&3
  $B rm -f /tmp/in /tmp/out
done
echo 0 > /proc/sys/vm/nr_hugepages
echo BYE >&3
exec 3>&- 4<&-
$B poweroff -f
"""


def cpio_newc(entries) -> bytes:
    """A cpio 'newc' archive of (name, mode, data, rdev major, rdev minor) entries, with its trailer."""
    out = bytearray()
    ino = 1
    for name, mode, data, major, minor in list(entries) + [("TRAILER!!!", 0, b"", 0, 0)]:
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(encoded), 0]
        out += b"070701" + b"".join(b"%08x" % value for value in fields) + encoded
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
        ino += 1
    return bytes(out)


DIR, FILE, DATA, CHAR, LINK = 0o040755, 0o100755, 0o100644, 0o020600, 0o120777


def build_guest_agent() -> Path:
    """agent.c linked statically (the guest has no libc), once per source version."""
    source = AGENT_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = cache_dir() / f"guest-agent-{digest}"
    if target.exists():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ReplayUnavailable("the qemu replay needs a C compiler (gcc) to build its agent")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / "agent"
        done = subprocess.run([compiler, "-static", "-O2", "-Wall", "-Werror", "-o", str(out), str(AGENT_SOURCE)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            raise ReplayUnavailable(f"linking the guest agent statically failed (is libc6-dev installed?): {last}")
        os.replace(out, target)
    return target


def build_initramfs(agent: Path, busybox: Path) -> Path:
    """The guest (busybox, agent, /init, fixed knobs, device nodes), cached by content."""
    sysctl = "".join(f"{key} {value}\n" for key, value in guest_sysctls().items()).encode()
    parts = [agent.read_bytes(), busybox.read_bytes(), INIT_SCRIPT.encode(), sysctl]
    digest = hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]
    target = cache_dir() / f"guest-initramfs-{digest}.cpio.gz"
    if target.exists():
        return target
    agent_bytes, busybox_bytes, init, sysctl = parts
    archive = cpio_newc([
        ("dev", DIR, b"", 0, 0),
        ("dev/console", CHAR, b"", 5, 1),
        ("proc", DIR, b"", 0, 0),
        ("tmp", DIR, b"", 0, 0),
        ("bin", DIR, b"", 0, 0),
        ("bin/busybox", FILE, busybox_bytes, 0, 0),
        ("bin/sh", LINK, b"busybox", 0, 0),
        ("agent", FILE, agent_bytes, 0, 0),
        ("sysctl", DATA, sysctl, 0, 0),
        ("init", FILE, init, 0, 0),
    ])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(gzip.compress(archive, compresslevel=6))
    os.replace(tmp, target)
    return target


# -- one VM -----------------------------------------------------------------------------------------

class VMStopped(Exception):
    """The VM stopped (or was stopped) before it answered."""


@dataclass
class GroupOutput:
    lines: list  # the agent's output lines
    knobs: tuple | None  # (pool, max_map_count) as the guest read them back
    problem: str | None  # why the group did not finish, or None


_running_vms: "weakref.WeakSet[VM]" = weakref.WeakSet()


@atexit.register
def _stop_all_vms() -> None:
    for vm in list(_running_vms):  # a guest keeps nothing worth a clean power-off
        vm.kill("exit")


class VM:
    """One booted guest that serves groups of traces until it is closed."""

    def __init__(self, qemu: str, image: KernelImage, initramfs: Path):
        self.workdir = tempfile.TemporaryDirectory(prefix="mmsem-qemu-")
        self.console_path = Path(self.workdir.name) / "console"
        command = [qemu, "-accel", "tcg", "-cpu", QEMU_CPU, "-m", str(GUEST_MEMORY_MB), "-smp", "1",
                   "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                   "-kernel", str(image.boot_file), "-initrd", str(initramfs), "-append", KERNEL_APPEND,
                   "-serial", f"file:{self.console_path}",
                   "-chardev", "stdio,id=agent,signal=off", "-serial", "chardev:agent", "-monitor", "none"]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        os.set_blocking(self.proc.stdin.fileno(), False)
        _running_vms.add(self)
        self.lines: queue.Queue = queue.Queue()
        self.stderr = b""
        self.dead: str | None = None  # why the VM is gone
        self.groups = 0
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.default_max_map_count = DEFAULT_MAX_MAP_COUNT
        self.sysctls: dict = {}
        try:
            for line in self._lines_until("READY", BOOT_SECONDS):
                parts = line.split()
                if parts[:1] == ["M"] and len(parts) == 2:
                    self.default_max_map_count = int(parts[1])
                elif parts[:1] == ["P"] and len(parts) == 3:
                    self.sysctls[parts[1]] = parts[2]
        except VMStopped as exc:
            self.kill()
            raise ReplayUnavailable(f"the {image.release} VM did not boot: {exc}{self.console_hint()}") from None
        self.boot_seconds = time.monotonic() - self.started

    # -- the pipes ---------------------------------------------------------------------------
    def _read(self) -> None:
        for raw in self.proc.stdout:
            if raw.endswith(b"\n"):  # a line cut short by a dying VM is dropped
                self.lines.put(raw.decode(errors="replace").rstrip("\r\n"))
        self.proc.wait()
        self.lines.put(None)

    def _read_stderr(self) -> None:
        self.stderr = self.proc.stderr.read()[-2000:]

    def _lines_until(self, last: str, seconds: float) -> list[str]:
        """Lines up to the first that starts with `last` (included); VMStopped on EOF or deadline."""
        deadline = time.monotonic() + seconds
        out = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                self.kill(f"no answer within {seconds:.0f} s")
                raise VMStopped(self.dead) from None
            if line is None:
                self.dead = self.dead or self._exit_reason()
                raise VMStopped(self.dead)
            out.append(line)
            if line == last or line.startswith(last + " "):
                return out

    def _exit_reason(self) -> str:
        code = self.proc.poll()
        err = self.stderr.decode(errors="replace").strip().splitlines()
        if code not in (None, 0):
            return f"qemu exited with status {code}" + (f": {err[-1]}" if err else "")
        return "the guest stopped (kernel panic or power-off)"

    def _send(self, data: bytes, seconds: float) -> None:
        fd = self.proc.stdin.fileno()
        deadline = time.monotonic() + seconds
        view = memoryview(data)
        while view:
            if self.dead:
                raise VMStopped(self.dead)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill("the guest stopped reading its input")
                raise VMStopped(self.dead)
            _, ready, _ = select.select([], [fd], [], min(remaining, 0.5))
            if ready:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    self.dead = self.dead or self._exit_reason()
                    raise VMStopped(self.dead) from None

    # -- use -------------------------------------------------------------------------------------
    def run_group(self, pool: int, limit: int, text: str, count: int, stream: bool = False,
                  quiet: float = 0.0) -> GroupOutput:
        """Run one agent input with these knobs; the output lines, up to where the VM stopped.

        The whole group must finish within GROUP_SECONDS + PER_TRACE_SECONDS per trace. When
        streamed, the output shows progress instead: then the VM may stay silent for GROUP_SECONDS
        plus `quiet` (the agent's own per-trace timeout) between two lines.
        """
        payload = gzip.compress(text.encode(), compresslevel=6)
        seconds = GROUP_SECONDS + (quiet if stream else PER_TRACE_SECONDS * count)
        lines: list = []
        knobs = None
        try:
            self._send(f"{'S' if stream else 'G'} {pool} {limit} {len(payload)}\n".encode() + payload, seconds)
            deadline = time.monotonic() + seconds
            while True:
                line = self._next_line(deadline, seconds)
                if stream:
                    deadline = time.monotonic() + seconds
                if line.startswith("G ") and knobs is None:
                    got = line.split()
                    knobs = (int(got[1]), int(got[2]))
                elif line.startswith("E "):
                    break
                else:
                    lines.append(line)
        except (VMStopped, ValueError, IndexError) as exc:
            if not self.dead:
                self.kill(f"garbled answer from the guest: {exc}")
            return GroupOutput(lines, knobs, self.dead)
        self.groups += 1
        return GroupOutput(lines, knobs, None)

    def _next_line(self, deadline: float, seconds: float) -> str:
        remaining = deadline - time.monotonic()
        try:
            line = self.lines.get(timeout=max(remaining, 0.001))
        except queue.Empty:
            self.kill(f"the VM did not answer within {seconds:.0f} s")
            raise VMStopped(self.dead) from None
        if line is None:
            self.dead = self.dead or self._exit_reason()
            raise VMStopped(self.dead)
        return line

    def console_hint(self) -> str:
        try:
            text = self.console_path.read_bytes().decode(errors="replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return f" (console: {lines[-1][:200]})" if lines else ""

    def kill(self, reason: str = "killed") -> None:
        self.dead = self.dead or reason
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _running_vms.discard(self)

    def close(self, wait: float = 10.0) -> None:
        """Power the guest off (kill it if it does not go)."""
        if not self.dead:
            try:
                self._send(b"Q\n", wait)
                self.proc.wait(timeout=wait)
            except (VMStopped, subprocess.TimeoutExpired, OSError):
                pass
            self.dead = "closed"
        self.kill("closed")
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
        self.workdir.cleanup()


# -- the backend -----------------------------------------------------------------------------------

class QemuKernel:
    """Debian's Linux X.Y, booted under qemu, as a backend for traces."""

    #: run() may be called from another thread while the caller works on (mmsem conform
    #: replays the next traces while it judges the last ones): the knobs are the guest's,
    #: and no signal handler of this process is involved.
    replays_in_background = True

    def __init__(self, version: str = "6.1", spec: Spec | None = None, timeout: int = 10,
                 image: KernelImage | None = None):
        if not _VERSION.match(version):
            raise ReplayUnavailable(f"kernel version {version!r} is not of the form X.Y (e.g. qemu:6.1)")
        self.version = version
        self.spec = spec or default_spec()
        self.timeout = timeout
        self.qemu = find_qemu()
        busybox = find_busybox()
        self.image = image or fetch_kernel(version)
        self.agent = build_guest_agent()
        self.initramfs = build_initramfs(self.agent, busybox)
        self._calibration: Calibration | None = None
        self._idle: list[VM] = []
        self._all: "weakref.WeakSet[VM]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self.boots: list[float] = []  # seconds each VM took to boot, for figures

    @property
    def name(self) -> str:
        return f"kernel {self.image.release} (Debian {self.image.package_version}, qemu)"

    @property
    def profile_name(self) -> str:
        """The engine profile this kernel is compared with: its X.Y."""
        return self.version

    def pin_profile(self, trace: Trace) -> Trace:
        """A trace without config.kernel means 'the running kernel': here that is X.Y, not the host's.

        The trace is changed in place (and returned): the engine run that follows a replay
        (mmsem conform, mmsem run --compare) reads the profile from the trace.
        """
        if trace.config.kernel is None:
            trace.config = dataclasses.replace(trace.config, kernel=self.profile_name)
        return trace

    # -- VMs -----------------------------------------------------------------------------------
    def _take_vm(self) -> VM:
        with self._lock:
            while self._idle:
                vm = self._idle.pop()
                if not vm.dead and vm.proc.poll() is None:
                    return vm
                vm.close(wait=1.0)
        vm = VM(self.qemu, self.image, self.initramfs)
        with self._lock:
            self._all.add(vm)
            self.boots.append(vm.boot_seconds)
        wanted = {key: str(value) for key, value in guest_sysctls().items()}
        if vm.sysctls != wanted:
            vm.close(wait=1.0)
            raise ReplayUnavailable(f"the guest could not set its knobs: wanted {wanted}, got {vm.sysctls}")
        return vm

    def _give_back(self, vm: VM) -> None:
        with self._lock:
            if not vm.dead:
                self._idle.append(vm)

    def close(self) -> None:
        """Power off every VM of this backend (they also stop at exit, or when idle for long)."""
        with self._lock:
            vms, self._idle = list(self._all), []
        for vm in vms:
            vm.close(wait=5.0)

    def kill_vms(self) -> None:
        """Stop every VM at once (on interruption)."""
        with self._lock:
            vms, self._idle = list(self._all), []
        for vm in vms:
            vm.kill("interrupted")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- calibration -----------------------------------------------------------------------------
    def _calibration_file(self) -> Path:
        key = hashlib.sha256(f"{self.image.release} {self.image.package_version} {self.initramfs.name} "
                             f"{GUEST_MEMORY_MB} {KERNEL_APPEND} {QEMU_CPU}".encode()).hexdigest()[:16]
        return cache_dir() / f"guest-calibration-{key}.json"

    def calibration(self) -> Calibration:
        """The agent child's own mappings in the guest, measured once per image and guest.

        The agent's answer is kept in the cache (it is the same on every boot: the agent
        runs without address randomisation), so a single `mmsem run` boots only once.
        """
        if self._calibration is None:
            path = self._calibration_file()
            try:
                data = json.loads(path.read_text())
                lines, system_max = data["lines"], data["max_map_count"]
            except (OSError, ValueError, KeyError):
                lines, system_max = self._calibrate()
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps({"lines": lines, "max_map_count": system_max}) + "\n")
                os.replace(tmp, path)
            self._calibration = Calibration(parse_calibration(lines, self.spec), system_max)
        return self._calibration

    def _calibrate(self) -> tuple[list[str], int]:
        vm = self._take_vm()
        out = vm.run_group(0, vm.default_max_map_count, "C\nQ\n", 1)
        if out.problem or not any(line.startswith("K ") for line in out.lines):
            hint = vm.console_hint()
            vm.kill()
            raise ReplayUnavailable(f"calibrating the guest agent failed: {out.problem or 'no answer'}{hint}")
        self._give_back(vm)
        return out.lines, vm.default_max_map_count

    def outside_for(self, trace: Trace) -> Outside:
        """What the engine must assume about the process besides the trace's mappings.

        As on the live kernel: the agent's own mappings, plus the filler mappings (one page
        each) that make the guest's limit act as the trace's max_map_count.
        """
        self.pin_profile(trace)
        fill = self.filler_count(trace)
        return dataclasses.replace(self.calibration().outside, vmas=0, pages=fill, lockable_pages=fill)

    def system_limit(self, trace: Trace) -> int:
        """vm.max_map_count in the guest while this trace runs.

        The guest owns its knob and sets it to the trace's limit, but never below
        MAP_COUNT_FLOOR: /init (a shell) must keep room for its own mappings. Below the
        floor, filler mappings make up the difference, as on the live kernel.
        """
        return max(trace.config.max_map_count, MAP_COUNT_FLOOR)

    def filler_count(self, trace: Trace) -> int:
        """Extra mappings that make the guest's limit act as the trace's max_map_count."""
        return self.system_limit(trace) - trace.config.max_map_count

    # -- running ------------------------------------------------------------------------------------
    def run(self, traces: list[Trace], snap_all: bool = False, jobs: int = 1) -> list[TraceResult]:
        """Replay traces on ``jobs`` VMs side by side; VMs stay up for the next call."""
        if not traces:
            return []
        for trace in traces:
            self.pin_profile(trace)
        self.calibration()
        jobs = max(1, min(jobs, len(traces)))
        parts = [list(range(len(traces)))[j::jobs] for j in range(jobs)]
        results: list[TraceResult | None] = [None] * len(traces)
        try:
            if len(parts) == 1:
                batches = [self._run_part(traces, parts[0], snap_all)]
            else:
                executor = ThreadPoolExecutor(len(parts))
                try:
                    futures = [executor.submit(self._run_part, traces, part, snap_all) for part in parts]
                    batches = [future.result() for future in futures]
                finally:
                    executor.shutdown(wait=False, cancel_futures=True)
        except BaseException:
            self.kill_vms()
            raise
        for batch in batches:
            for i, result in batch.items():
                results[i] = result
        return results

    def _run_part(self, traces: list[Trace], indexes: list[int], snap_all: bool) -> dict:
        """Run these traces (indexes into traces) on one VM, one group of knobs at a time."""
        results: dict = {}
        groups: dict[tuple, list[int]] = {}
        for i in indexes:
            groups.setdefault((traces[i].config.hugetlb_pages, self.system_limit(traces[i])), []).append(i)
        vm = None
        try:
            for knobs, members in sorted(groups.items()):
                vm = vm if vm is not None and not vm.dead else self._take_vm()
                transport = _Transport(self, vm, knobs)
                batch = LiveKernel._run_batch(transport, [traces[i] for i in members], snap_all)
                if transport.out.problem is None:
                    results.update(zip(members, transport.checked(batch)))
                    continue
                # The VM stopped somewhere in the group: run it again, streamed, to find where.
                vm = None
                results.update(self._run_streamed(traces, members, snap_all, knobs))
        finally:
            if vm is not None:
                self._give_back(vm)
        return results

    def _run_streamed(self, traces, members: list[int], snap_all: bool, knobs: tuple) -> dict:
        """Run a group with streamed output; a trace that stops the VM fails, the ones after it go on."""
        results: dict = {}
        pending = list(members)
        while pending:
            vm = self._take_vm()
            transport = _Transport(self, vm, knobs, stream=True)
            batch = LiveKernel._run_batch(transport, [traces[i] for i in pending], snap_all)
            out = transport.out
            if out.problem is None:
                self._give_back(vm)
                results.update(zip(pending, transport.checked(batch)))
                return results
            done = {int(line.split()[1], 16) for line in out.lines if line.startswith("D ")}
            finished = [k for k in range(len(pending)) if k in done]
            results.update((pending[k], batch[k]) for k in finished)
            rest = [k for k in range(len(pending)) if k not in done]
            if rest:
                culprit = batch[rest[0]]
                culprit.failure = f"{out.problem}{vm.console_hint()}"
                results[pending[rest[0]]] = culprit
            pending = [pending[k] for k in rest[1:]]
        return results


class _Transport:
    """Stands in for a LiveKernel in LiveKernel._run_batch, with a VM instead of a local agent.

    So both backends encode traces and decode the agent's output with the same code; only
    the way the agent input travels (and the knobs, set in the guest) differ.
    """

    def __init__(self, kernel: QemuKernel, vm: VM, knobs: tuple, stream: bool = False):
        self.spec, self.timeout, self.name = kernel.spec, kernel.timeout, kernel.name
        self.filler_count = kernel.filler_count  # the agent makes the fillers, as on the live kernel
        self.vm, self.knobs, self.stream = vm, knobs, stream
        self.out: GroupOutput | None = None

    def _talk(self, text: str, timeout: float) -> tuple[list[str], str | None]:
        count = text.count("\nT ") + text.startswith("T ")
        self.out = self.vm.run_group(self.knobs[0], self.knobs[1], text, count, self.stream, self.timeout)
        return self.out.lines, self.out.problem

    def checked(self, batch: list[TraceResult]) -> list[TraceResult]:
        """The results, failed if the guest could not set the group's knobs."""
        got = self.out.knobs
        if got is not None and got != tuple(self.knobs):
            problem = (f"the guest could not set its knobs: huge page pool {got[0]} (wanted {self.knobs[0]}), "
                       f"max_map_count {got[1]} (wanted {self.knobs[1]})")
            for result in batch:
                result.failure = result.failure or problem
        return batch
