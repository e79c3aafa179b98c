"""Replay traces on another kernel version, booted under qemu (targets ``qemu:X.Y``).

The kernel is Debian's ``linux-image-X.Y…-cloud-amd64-unsigned`` package, fetched
with ``apt-get download`` into the replay cache (nothing is installed on the
system) and unpacked with ``dpkg-deb``; its compressed bzImage is turned into the
plain ELF vmlinux once, because qemu boots that directly (PVH entry) and the guest
then skips a slow decompression under emulation. The exact build is recorded next
to the image (``image.json``), since the registry keeps only the newest build.

The guest is a small initramfs: a static busybox, an ``/init`` script and the same
agent.c as the live replay, linked statically. The host appends the batch to the
initramfs as a second cpio archive: one agent input per group of traces that need
the same global knobs (huge page pool, vm.max_map_count). The guest is root and
owns its knobs, so ``/init`` sets them before each group; the host's knobs are
never touched. The agent's output goes to the second serial port (a file on the
host), the first carries the kernel console. After the last group the guest powers
off; with ``panic=-1``, ``-no-reboot`` and a host-side deadline the VM always stops.

Many traces run per boot, and ``jobs`` VMs run side by side, so the two-second boot
is shared by a whole campaign chunk. If the VM stops early (a kernel panic, the
deadline), the trace that was running is reported as failed and the rest of the
batch goes to a new boot.
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

from mmsem.semantics.engine import MAIN
from mmsem.semantics.program import Outcome, errno_name
from mmsem.semantics.replay import ReplayUnavailable
from mmsem.semantics.replay.live import AGENT_SOURCE, Calibration, cache_dir, encode, parse_snapshot, signal_name
from mmsem.semantics.runner import StepRecord, TraceResult
from mmsem.semantics.state import Outside, System
from mmsem.semantics.trace import Trace
from mmsem.spec import default_spec
from mmsem.spec.model import Spec

#: The guest's memory: enough for traces and a small huge page pool.
GUEST_MEMORY_MB = 512
#: vm.max_map_count of a freshly booted kernel; the guest reports its own value.
DEFAULT_MAX_MAP_COUNT = 65530
#: Seconds a boot may take before the first group starts (kernel and /init).
BOOT_ALLOWANCE = 60.0
#: Seconds per trace on top of that, for the host-side deadline of one boot. A trace
#: that hangs is stopped inside the guest by the agent's own per-trace alarm.
PER_TRACE_ALLOWANCE = 1.0
#: Kernel command line. The console is the first serial port; quiet keeps it short.
#: THP "madvise" is the live machine's mode (Debian's default is "always"); the agent
#: disables THP per trace anyway.
KERNEL_APPEND = "console=ttyS0 panic=-1 quiet loglevel=1 transparent_hugepage=madvise"
#: Knobs the guest sets once per boot, so that the system is the one the engine models
#: (Debian builds with mmap_min_addr 65536; the engine's system, like the live machine,
#: has 4096).
GUEST_SYSCTLS = {"vm/mmap_min_addr": System.__dataclass_fields__["mmap_min_addr"].default}
#: Where the batch lands in the guest.
BATCH_DIR = "batch"

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
                                f"(apt-cache search {pattern!r} found none; run apt-get update?)")
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

#: /init of the guest. Runs each group of traces with its knobs, writes everything the
#: host reads to the second serial port, and powers off. Lines it adds to the agent's:
#:   M max_map_count           the kernel's default, before any change
#:   P key value               a fixed knob (/batch/sysctl) as read back after setting it
#:   G group pool max_map_count the knobs as read back before the group runs
#:   E group status            the agent's exit status for the group
#:   END                       every group ran
INIT_SCRIPT = """#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t devtmpfs dev /dev
$B stty -F /dev/ttyS1 raw -echo
exec 3>/dev/ttyS1
mmc=$($B cat /proc/sys/vm/max_map_count)
echo "M $mmc" >&3
while read key value; do
  echo "$value" > /proc/sys/$key
  echo "P $key $($B cat /proc/sys/$key)" >&3
done < /batch/sysctl
while read group pool limit; do
  echo "$pool" > /proc/sys/vm/nr_hugepages
  echo "$limit" > /proc/sys/vm/max_map_count
  got_pool=$($B cat /proc/sys/vm/nr_hugepages)
  got_limit=$($B cat /proc/sys/vm/max_map_count)
  echo "G $group $got_pool $got_limit" >&3
  /agent < /batch/$group >&3
  echo "E $group $?" >&3
  echo "$mmc" > /proc/sys/vm/max_map_count
done < /batch/groups
echo 0 > /proc/sys/vm/nr_hugepages
echo END >&3
exec 3>&-
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


DIR, FILE, CHAR, LINK = 0o040755, 0o100755, 0o020600, 0o120777


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


def build_base_initramfs(agent: Path, busybox: Path) -> Path:
    """The guest's fixed part (busybox, agent, /init, device nodes), cached by content."""
    agent_bytes, busybox_bytes = agent.read_bytes(), busybox.read_bytes()
    digest = hashlib.sha256(agent_bytes + busybox_bytes + INIT_SCRIPT.encode()).hexdigest()[:16]
    target = cache_dir() / f"guest-initramfs-{digest}.cpio.gz"
    if target.exists():
        return target
    archive = cpio_newc([
        ("dev", DIR, b"", 0, 0),
        ("dev/console", CHAR, b"", 5, 1),
        ("dev/ttyS1", CHAR, b"", 4, 65),
        ("proc", DIR, b"", 0, 0),
        ("bin", DIR, b"", 0, 0),
        ("bin/busybox", FILE, busybox_bytes, 0, 0),
        ("bin/sh", LINK, b"busybox", 0, 0),
        (BATCH_DIR, DIR, b"", 0, 0),
        ("agent", FILE, agent_bytes, 0, 0),
        ("init", FILE, INIT_SCRIPT.encode(), 0, 0),
    ])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(gzip.compress(archive, compresslevel=6))
    os.replace(tmp, target)
    return target


# -- the backend -----------------------------------------------------------------------------------

@dataclass
class Boot:
    """What one boot of the VM produced."""

    lines: list
    problem: str | None  # why the VM stopped before the end, or None
    console: str  # the kernel console's last lines
    seconds: float


class QemuKernel:
    """A Debian kernel of version X.Y, booted under qemu, as a backend for traces."""

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
        self.initramfs = build_base_initramfs(self.agent, busybox)
        self._calibration: Calibration | None = None
        self._vms: set = set()
        self._vms_lock = threading.Lock()
        self.boots: list[Boot] = []  # every boot of this backend, for figures

    @property
    def name(self) -> str:
        return f"kernel {self.image.release} (Debian {self.image.package_version}, qemu)"

    @property
    def profile_name(self) -> str:
        """The engine profile this kernel is compared with: its X.Y."""
        return self.version

    # -- traces without a profile describe the kernel they run on --------------------------
    def pin_profile(self, trace: Trace) -> Trace:
        """A trace without config.kernel means 'the running kernel': here that is X.Y, not the host's.

        The trace is changed in place (and returned), so that the engine run that follows a
        replay, which reads the profile from the trace, uses this kernel's profile.
        """
        if trace.config.kernel is None:
            trace.config = dataclasses.replace(trace.config, kernel=self.profile_name)
        return trace

    # -- calibration -----------------------------------------------------------------------
    def _calibration_file(self) -> Path:
        key = hashlib.sha256(f"{self.image.release} {self.image.package_version} {self.initramfs.name} "
                             f"{GUEST_MEMORY_MB} {KERNEL_APPEND}".encode()).hexdigest()[:16]
        return cache_dir() / f"guest-calibration-{key}.json"

    def calibration(self) -> Calibration:
        """The agent child's own mappings in the guest, measured once per image and agent (cached)."""
        if self._calibration is None:
            path = self._calibration_file()
            try:
                data = json.loads(path.read_text())
                self._calibration = Calibration(Outside(data["vmas"], data["pages"], data["lockable"]),
                                                data["max_map_count"])
            except (OSError, ValueError, KeyError):
                boot = self._boot([("c", 0, DEFAULT_MAX_MAP_COUNT, "C\nQ\n")], 1)
                answer = [line for line in boot.lines if line.startswith("K ")]
                system = [line for line in boot.lines if line.startswith("M ")]
                if not answer or not system:
                    raise ReplayUnavailable(f"calibrating the guest agent failed: {boot.problem or 'no answer'}"
                                            f"{self._console_hint(boot)}")
                vmas, pages, lockable = (int(x, 16) for x in answer[0].split()[1:4])
                self._calibration = Calibration(Outside(vmas, pages, lockable), int(system[0].split()[1]))
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps({"vmas": vmas, "pages": pages, "lockable": lockable,
                                           "max_map_count": self._calibration.max_map_count}) + "\n")
                os.replace(tmp, path)
        return self._calibration

    def outside_for(self, trace: Trace) -> Outside:
        """What the engine must assume about the process outside the arena (no fillers here)."""
        self.pin_profile(trace)
        return self.calibration().outside

    def system_limit(self, trace: Trace) -> int:
        """vm.max_map_count in the guest while this trace runs: the trace's own limit.

        The guest owns its knob, so instead of filler mappings under a lowered system limit
        (the live replay's way) the limit itself is set to the trace's value.
        """
        return min(trace.config.max_map_count, self.calibration().max_map_count)

    # -- running -----------------------------------------------------------------------------
    def run(self, traces: list[Trace], snap_all: bool = False, jobs: int = 1) -> list[TraceResult]:
        """Replay traces in ``jobs`` VMs side by side, many traces per boot."""
        for trace in traces:
            self.pin_profile(trace)
        results: list[TraceResult | None] = [None] * len(traces)
        if not traces:
            return []
        jobs = max(1, min(jobs, len(traces)))
        parts = [list(range(len(traces)))[j::jobs] for j in range(jobs)]
        try:
            if len(parts) == 1:
                batches = [self._run_part(traces, parts[0], snap_all)]
            else:
                with ThreadPoolExecutor(len(parts)) as pool:
                    batches = list(pool.map(lambda part: self._run_part(traces, part, snap_all), parts))
        except BaseException:
            self.kill_vms()
            raise
        for batch in batches:
            for i, result in batch.items():
                results[i] = result
        return results

    def _run_part(self, traces: list[Trace], indexes: list[int], snap_all: bool) -> dict:
        """Run these traces (indexes into traces), booting again after a VM that stopped early."""
        results = {i: TraceResult(traces[i], self.name) for i in indexes}
        pending = list(indexes)
        while pending:
            groups: dict[tuple, list[int]] = {}
            for i in pending:
                key = (traces[i].config.hugetlb_pages, self.system_limit(traces[i]))
                groups.setdefault(key, []).append(i)
            order = [i for key in sorted(groups) for i in groups[key]]
            plan = []
            for k, (key, members) in enumerate(sorted(groups.items())):
                text = "".join(encode(self.spec, traces[i], i, 0, self.timeout, snap_all) for i in members) + "Q\n"
                plan.append((f"g{k}", key[0], key[1], text))
            boot = self._boot(plan, len(pending))
            fixed = self._fixed_knobs_problem(boot)
            if fixed:
                for i in pending:
                    results[i].failure = fixed
                break
            done, knob_problems = self._parse(traces, boot.lines, results)
            for i, problem in knob_problems.items():
                if results[i].failure is None:
                    results[i].failure = problem
            finished = [i for i in order if i in done]
            rest = [i for i in order if i not in done]
            if not rest:
                break
            # The VM stopped early: the first unfinished trace was running (or the agent of its
            # group failed); it is reported, the others are tried again in a new boot.
            culprit = rest[0]
            reason = boot.problem or "the guest stopped before this trace"
            results[culprit].failure = results[culprit].failure or f"{reason}{self._console_hint(boot)}"
            if not finished and len(rest) == len(pending) and boot.problem and "boot" in boot.problem:
                for i in rest[1:]:  # nothing ran at all: no point in booting again
                    results[i].failure = results[i].failure or reason
                break
            for i in rest[1:]:
                results[i] = TraceResult(traces[i], self.name)
            pending = rest[1:]
        return results

    def _parse(self, traces: list[Trace], lines: list[str], results: dict) -> tuple[set, dict]:
        """Fill results from the guest's output; returns (traces done, knob problems by trace)."""
        done: set = set()
        knob_problems: dict = {}
        group_knobs = None
        i = 0
        while i < len(lines):
            line = lines[i]
            kind, rest = line[:1], line[2:].split()
            try:
                if kind == "R" and len(rest) >= 5:
                    ident, index, ret = int(rest[0], 16), int(rest[1], 16), int(rest[2])
                    err, sig = int(rest[3], 16), int(rest[4], 16)
                    step = traces[ident].steps[index]
                    if sig:
                        outcome = Outcome(signal=signal_name(sig))
                    elif err:
                        outcome = Outcome(errno=errno_name(err, self.spec))
                    else:
                        outcome = Outcome(ret=ret)
                    results[ident].steps.append(StepRecord(step, outcome))
                elif kind == "O" and len(rest) >= 4:
                    ident, tag = int(rest[0], 16), rest[1]
                    obs, i = parse_snapshot(lines, i)
                    if tag == "final":
                        results[ident].final = {MAIN: obs}
                    else:
                        results[ident].steps[int(tag, 16)].state = obs
                    continue
                elif kind == "X" and rest:
                    results[int(rest[0], 16)].failure = " ".join(rest[1:])
                elif kind == "D" and rest:
                    ident = int(rest[0], 16)
                    done.add(ident)
                    trace = traces[ident]
                    if group_knobs is not None:
                        wanted = (trace.config.hugetlb_pages, self.system_limit(trace))
                        if group_knobs != wanted:
                            knob_problems[ident] = (f"the guest could not set its knobs: pool {group_knobs[0]} "
                                                    f"(wanted {wanted[0]}), max_map_count {group_knobs[1]} "
                                                    f"(wanted {wanted[1]})")
                elif kind == "G" and len(rest) >= 3:
                    group_knobs = (int(rest[1]), int(rest[2]))
            except (ValueError, IndexError, KeyError):
                pass  # a garbled line: the trace it belongs to is left unfinished or incomplete
            i += 1
        return done, knob_problems

    @staticmethod
    def _fixed_knobs_problem(boot: Boot) -> str | None:
        """Why the guest's fixed knobs (GUEST_SYSCTLS) are not as wanted, or None."""
        if not any(line.startswith("M ") for line in boot.lines):
            return None  # the guest did not get that far: reported per trace
        got = {}
        for line in boot.lines:
            parts = line.split()
            if parts[:1] == ["P"] and len(parts) == 3:
                got[parts[1]] = parts[2]
        for key, value in GUEST_SYSCTLS.items():
            if got.get(key) != str(value):
                return f"the guest could not set {key} to {value} (it reads {got.get(key, 'nothing')})"
        return None

    @staticmethod
    def _console_hint(boot: Boot) -> str:
        lines = [line for line in boot.console.splitlines() if line.strip()]
        return f" (console: {lines[-1].strip()[:200]})" if lines else ""

    # -- one boot ----------------------------------------------------------------------------
    def _boot(self, plan: list[tuple], count: int) -> Boot:
        """Boot once with these groups (name, pool, max_map_count, agent input); read the results."""
        deadline = BOOT_ALLOWANCE + PER_TRACE_ALLOWANCE * count
        with tempfile.TemporaryDirectory(prefix="mmsem-qemu-") as tmp:
            work = Path(tmp)
            manifest = "".join(f"{name} {pool} {limit}\n" for name, pool, limit, _ in plan)
            fixed = "".join(f"{key} {value}\n" for key, value in GUEST_SYSCTLS.items())
            batch = cpio_newc([(f"{BATCH_DIR}/groups", 0o100644, manifest.encode(), 0, 0),
                               (f"{BATCH_DIR}/sysctl", 0o100644, fixed.encode(), 0, 0)] +
                              [(f"{BATCH_DIR}/{name}", 0o100644, text.encode(), 0, 0)
                               for name, _, _, text in plan])
            initrd = work / "initrd"
            with open(initrd, "wb") as fh:
                base = self.initramfs.read_bytes()
                # The kernel looks for a following archive only at a multiple of 4 bytes (zeros are skipped).
                fh.write(base + b"\0" * (-len(base) % 4))
                fh.write(batch)
            out, console = work / "out", work / "console"
            command = [self.qemu, "-accel", "tcg", "-cpu", "max", "-m", str(GUEST_MEMORY_MB), "-smp", "1",
                       "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                       "-kernel", str(self.image.boot_file), "-initrd", str(initrd), "-append", KERNEL_APPEND,
                       "-serial", f"file:{console}", "-serial", f"file:{out}", "-monitor", "none"]
            started = time.monotonic()
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
            with self._vms_lock:
                self._vms.add(proc)
            problem = None
            try:
                try:
                    _, err = proc.communicate(timeout=deadline)
                    if proc.returncode != 0:
                        problem = f"qemu exited with status {proc.returncode}: " + \
                                  (err.decode(errors="replace").strip().splitlines() or ["?"])[-1]
                except subprocess.TimeoutExpired:
                    self._kill(proc)
                    proc.communicate()
                    problem = f"the VM did not finish within {deadline:.0f} s"
            except BaseException:
                self._kill(proc)
                proc.wait()
                raise
            finally:
                with self._vms_lock:
                    self._vms.discard(proc)
            seconds = time.monotonic() - started
            text = out.read_bytes().decode(errors="replace") if out.exists() else ""
            console_text = console.read_bytes().decode(errors="replace") if console.exists() else ""
        lines = [line.strip("\r") for line in text.splitlines()]
        if problem is None and "END" not in lines:
            problem = "the guest stopped early (kernel panic or a failed /init?)"
            if not any(line.startswith("M ") for line in lines):
                problem = "the guest did not boot to its /init"
        boot = Boot(lines, problem, console_text[-4000:], seconds)
        self.boots.append(boot)
        return boot

    @staticmethod
    def _kill(proc) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill_vms(self) -> None:
        """Stop every VM still running (on interruption: worker threads cannot be interrupted)."""
        with self._vms_lock:
            for proc in list(self._vms):
                self._kill(proc)
