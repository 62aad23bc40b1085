"""A virtual X display for ImageJ classes that need a screen.

ImageJ 1.x builds AWT frames for the ROI Manager, results and image windows;
with ``java.awt.headless=true`` those throw ``HeadlessException``. When no
usable ``DISPLAY`` exists the engine starts its own Xvfb and owns it: the
server dies with the Python process (``PR_SET_PDEATHSIG``), at exit, on
exceptions and on Ctrl-C — and only with the process, never with the thread
that started it (:func:`_spawn`).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future

from .errors import EngineError

__all__ = ["VirtualDisplay", "display_is_usable"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent():  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
    os.setsid()  # Ctrl-C in the terminal goes to us, not to Xvfb


_spawn_requests: queue.SimpleQueue | None = None  # to the spawner thread, once it runs
_spawn_lock = threading.Lock()


def _spawn(cmd, **kwargs):
    """``subprocess.Popen(cmd, **kwargs)``, forked by a thread that lives as long as the process.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends,
    not the process. An Xvfb forked by a short-lived thread (a session started
    in a ``ThreadPoolExecutor`` task) was killed as that thread ended, and the
    JVM, losing its X server, ended the whole Python process with status 1.
    The main thread lives as long as the process; any other thread hands the
    fork to one daemon thread that never ends.
    """
    global _spawn_requests
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(cmd, **kwargs)
    with _spawn_lock:
        if _spawn_requests is None:
            _spawn_requests = queue.SimpleQueue()
            threading.Thread(target=_spawner, args=(_spawn_requests,), name="fijirun-spawner",
                             daemon=True).start()
        requests = _spawn_requests
    spawned: Future = Future()
    requests.put((cmd, kwargs, spawned))
    return spawned.result()


def _spawner(requests):
    while True:
        cmd, kwargs, spawned = requests.get()
        try:
            spawned.set_result(subprocess.Popen(cmd, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - the caller raises it
            spawned.set_exception(exc)


def _forget_spawner():  # a forked child has no spawner thread, and its lock may be held
    global _spawn_requests, _spawn_lock
    _spawn_requests = None
    _spawn_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_spawner)


def _server_displays():
    """Display numbers of the X servers still running (``Xvfb :N ...``), dying ones included."""
    numbers = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) in (b"Xvfb", b"Xorg", b"X", b"Xvnc"):
            numbers.update(int(a[1:]) for a in argv[1:] if a[:1] == b":" and a[1:].isdigit())
    return numbers


def _free_display_number(first=100, last=999):
    """A display number with no lock file, no (even abstract) socket and no server process.

    Xvfb's own ``-displayfd`` search looks only at lock files, which other
    programs' clean-ups can remove while their server still runs; the
    server processes themselves are checked too.
    """
    try:
        with open("/proc/net/unix", encoding="ascii", errors="replace") as f:
            sockets = f.read()
    except OSError:
        sockets = ""
    running = _server_displays()
    start = first + (os.getpid() % 200)  # spread parallel starts apart
    for offset in range(last - first):
        n = first + (start - first + offset) % (last - first)
        if n in running or os.path.exists(f"/tmp/.X{n}-lock") \
                or f"/tmp/.X11-unix/X{n}\n" in sockets or os.path.exists(f"/tmp/.X11-unix/X{n}"):
            continue
        return n
    raise EngineError("no free X display number")


def display_is_usable(display=None, timeout=2.0):
    """Whether an X server accepts connections on ``display`` (default ``$DISPLAY``).

    A ``DISPLAY`` nobody answers on (a stale socket file, a closed SSH
    tunnel, a typo) is not usable: the engine then starts its own Xvfb
    instead of letting Java fail on it.
    """
    import socket

    display = display if display is not None else os.environ.get("DISPLAY")
    if not display or ":" not in display:
        return False
    host, _, rest = display.rpartition(":")
    num = rest.split(".")[0]
    if not num.isdigit():
        return False
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(f"/tmp/.X11-unix/X{num}")
        else:
            with socket.create_connection((host, 6000 + int(num)), timeout=timeout):
                pass
    except OSError:
        return False
    return True


def _read_display_number(fd, timeout):
    """The display number Xvfb writes on ``-displayfd`` once it accepts connections.

    Xvfb writes the number and the newline separately, and a write that
    fails (the reader already gone) is fatal to it: read up to the newline.
    """
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 32) if ready else b""
        if not chunk:  # timeout, or Xvfb ended
            break
        data += chunk
    return data.decode(errors="replace").strip()


class VirtualDisplay:
    """An Xvfb server on a free display number.

    Parameters
    ----------
    size : tuple of int
        Screen width and height.
    depth : int
        Colour depth.
    opengl : bool
        Offer OpenGL (Xvfb's GLX extension, Mesa's software renderer). Only
        Java 3D and JOGL (Fiji's 3D Viewer) use it; without it Xvfb is ready
        in half the time and with a tenth of the CPU (≈ 20 ms less per start).

    Examples
    --------
    >>> with VirtualDisplay() as d:  # doctest: +SKIP
    ...     print(d.display)
    :1
    """

    def __init__(self, size=(1280, 1024), depth=24, stop_at_exit=True, opengl=True):
        self.stop_at_exit = stop_at_exit
        self.size = size
        self.depth = depth
        self.opengl = opengl
        self.process = None
        self.display = None

    def start(self, timeout=10.0):
        """Start Xvfb and wait until it accepts connections."""
        return self.launch().wait_ready(timeout)

    def launch(self):
        """Start Xvfb without waiting (the JVM can start meanwhile); see :meth:`wait_ready`."""
        exe = shutil.which("Xvfb")
        if exe is None:
            raise EngineError(
                "no display and no Xvfb: install it (apt-get install xvfb) or set DISPLAY"
            )
        number = _free_display_number()
        read_fd, write_fd = os.pipe()
        errlog = tempfile.TemporaryFile()
        cmd = [
            exe, f":{number}", "-displayfd", str(write_fd),
            "-screen", "0", f"{self.size[0]}x{self.size[1]}x{self.depth}",
            "-nolisten", "tcp", "-noreset",
            *([] if self.opengl else ["-extension", "GLX"]),
        ]
        self.process = _spawn(
            cmd, pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=errlog, preexec_fn=_die_with_parent,
        )
        os.close(write_fd)
        self._read_fd, self._errlog = read_fd, errlog
        return self

    def wait_ready(self, timeout=10.0):
        """Block until Xvfb reports its display number; set :attr:`display`.

        If the server died instead (its display was taken meanwhile), a new
        one is launched on the next free number.
        """
        for _ in range(10):
            if self.display:
                return self
            read_fd, errlog = self._read_fd, self._errlog
            number = _read_display_number(read_fd, timeout)
            os.close(read_fd)
            errlog.seek(0)
            message = errlog.read().decode(errors="replace")[-500:]
            errlog.close()
            if number and self.process.poll() is None:
                self.display = f":{number}"
                if self.stop_at_exit:
                    atexit.register(self.stop)
                return self
            self.stop()
            if "server already active" in message or "Cannot establish any listening sockets" in message \
                    or "already in use" in message:
                self.launch()  # lost a race for that display: take the next one
                continue
            raise EngineError("Xvfb did not start: " + (message or "no display number reported"))
        raise EngineError("Xvfb did not start: every display tried was taken")

    def stop(self):
        """Stop the server; safe to call twice."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        atexit.unregister(self.stop)

    @property
    def pid(self):
        """The Xvfb process's id; None before :meth:`launch` and after :meth:`stop`."""
        return self.process.pid if self.process else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
