"""A real RTSP camera for the tests: GStreamer's RTSP server playing a video file in a loop.

Run as a script by Debian's ``/usr/bin/python3`` (it needs ``python3-gi`` and
``gir1.2-gst-rtsp-server-1.0``, which the project's own Python cannot import)::

    /usr/bin/python3 tests/rtsp_camera.py VIDEO PORT [WIDTH HEIGHT]

It serves rtsp://127.0.0.1:PORT/cam (H.264, 25 fps, the video scaled to WIDTH x HEIGHT), prints
``ready`` once it answers, and takes one command a line on stdin, answering ``ok <command>``:
``stall`` (keep answering RTSP but send no frames), ``play`` (frames again), ``size W H``
(change the resolution mid-stream: the encoder sends the new size in-band, as a camera that is
reconfigured does). Stopping the camera is stopping the process: its clients are disconnected
and new connections are refused until it is started again on the same port.

The tests use ``RtspCamera`` (standard library only), which starts the script on a free port and
controls it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
PATH = "/cam"
FPS = 25
# What the server needs; None when it is all there (the tests skip with this text otherwise).
_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "missing = [e for e in ('x264enc', 'rtph264pay', 'avdec_mpeg4', 'avdec_h264') "
    "if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
)
PACKAGES = (
    "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools"
)


def unavailable() -> str | None:
    """Why the RTSP camera cannot run here (the Debian packages to install), or None."""
    if not Path(SYSTEM_PYTHON).is_file() or shutil.which("gst-inspect-1.0") is None:
        return f"the RTSP camera needs {SYSTEM_PYTHON} and GStreamer: apt-get install {PACKAGES}"
    out = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True, check=False)
    if out.returncode != 0 or out.stdout.strip():
        what = out.stdout.strip() or out.stderr.strip().splitlines()[-1:]
        return f"the RTSP camera cannot start ({what}): apt-get install {PACKAGES}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspCamera:
    """The script in a subprocess, on one port for its whole life: ``start``/``stop`` serve or
    drop the stream (clients disconnected, connections refused), ``stall``/``play`` and
    ``size`` change it while it serves. ``log`` collects the script's output."""

    def __init__(self, video: Path, size: tuple[int, int], log: Path, port: int = 0) -> None:
        self.video, self.size, self.log = video, size, log
        self.port = port or _free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}{PATH}"
        self.proc: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._cond = threading.Condition()

    def start(self, timeout_s: float = 30.0) -> RtspCamera:
        """Serve (at the last size asked); returns once the server answers."""
        w, h = self.size
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, __file__, str(self.video), str(self.port), str(w), str(h)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.log, "a"),  # noqa: SIM115
            text=True,
            bufsize=1,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self._expect("ready", timeout_s)
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                self._lines.append(line.strip())
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _expect(self, line: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while line not in self._lines:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"the RTSP camera exited; see {self.log}")
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"the RTSP camera did not say {line!r}; see {self.log}")
            self._lines.remove(line)

    def command(self, cmd: str, timeout_s: float = 10.0) -> None:
        """Send one command and wait for its ``ok``."""
        if self.proc is None or self.proc.stdin is None:
            raise RuntimeError("the RTSP camera is not running")
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        self._expect(f"ok {cmd}", timeout_s)

    def stall(self) -> None:
        self.command("stall")

    def play(self) -> None:
        self.command("play")

    def resize(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.command(f"size {width} {height}")

    def stop(self) -> None:
        """Stop serving: the process ends, its clients see the connection close."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


# -- the server (runs under /usr/bin/python3 with GStreamer) -----------------------------------


def _serve(video: str, port: int, width: int, height: int) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    loop = GLib.MainLoop()
    sinks: list[Gst.Element] = []  # the appsrc of each prepared media
    state: dict = {"stall": False, "source": None}

    def on_sample(sink: Gst.Element) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        if sample is None or state["stall"]:
            return Gst.FlowReturn.OK
        # Without the file's timestamps and segment: each client's pipeline stamps the frame
        # with its own clock as it arrives, as a camera's encoder does.
        buf = sample.get_buffer().copy()
        buf.pts = buf.dts = Gst.CLOCK_TIME_NONE
        caps = sample.get_caps()
        for src in list(sinks):
            if src.get_property("caps") != caps:
                src.set_property("caps", caps)
            src.emit("push-buffer", buf)
        return Gst.FlowReturn.OK

    def on_bus(bus: Gst.Bus, msg: Gst.Message, pipeline: Gst.Pipeline) -> bool:
        if msg.type == Gst.MessageType.EOS:
            pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH, 0)
        elif msg.type == Gst.MessageType.ERROR and pipeline is state["source"]:
            print(f"source error: {msg.parse_error()}", file=sys.stderr)
            loop.quit()
        return True

    def play(w: int, h: int) -> None:
        """The file, decoded and scaled to w x h in real time, looped; each frame goes to every
        client's media. A new size is a new decoding pipeline (the clients' stay)."""
        old = state["source"]
        source = Gst.parse_launch(
            f'filesrc location="{video}" ! decodebin ! videoconvert ! videorate ! videoscale ! '
            f"video/x-raw,format=I420,width={w},height={h},framerate={FPS}/1 ! "
            "appsink name=sink sync=true max-buffers=2 drop=true emit-signals=true"
        )
        source.get_by_name("sink").connect("new-sample", on_sample)
        bus = source.get_bus()
        bus.add_signal_watch()
        bus.connect("message", on_bus, source)
        state["source"] = source
        if old is not None:
            old.get_bus().remove_signal_watch()
            old.set_state(Gst.State.NULL)
        source.set_state(Gst.State.PLAYING)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=src is-live=true format=time do-timestamp=true max-buffers=2 "
        "leaky-type=downstream ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=3000 ! "
        "video/x-h264,profile=constrained-baseline ! "
        "rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)

    def on_configure(factory: GstRtspServer.RTSPMediaFactory, media) -> None:  # noqa: ANN001
        src = media.get_element().get_child_by_name("src")
        sinks.append(src)
        media.connect("unprepared", lambda m: src in sinks and sinks.remove(src))

    factory.connect("media-configure", on_configure)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory(PATH, factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    # Sessions of clients gone without a TEARDOWN (a killed edge) end when they time out.
    GLib.timeout_add_seconds(2, lambda: server.get_session_pool().cleanup() >= 0)

    def on_command(line: str) -> bool:
        words = line.split()
        if words == ["stall"] or words == ["play"]:
            state["stall"] = words[0] == "stall"
        elif len(words) == 3 and words[0] == "size":
            play(int(words[1]), int(words[2]))
        else:
            print(f"unknown command {line!r}", file=sys.stderr)
            return False
        print(f"ok {line}", flush=True)
        return False

    def read_commands() -> None:
        for line in sys.stdin:
            GLib.idle_add(on_command, line.strip())
        GLib.idle_add(loop.quit)  # stdin closed: the test is gone

    play(width, height)
    threading.Thread(target=read_commands, daemon=True).start()
    print("ready", flush=True)
    loop.run()
    state["source"].set_state(Gst.State.NULL)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 5):
        raise SystemExit(__doc__)
    w, h = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) == 5 else (1280, 720)
    _serve(sys.argv[1], int(sys.argv[2]), w, h)
