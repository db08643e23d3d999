"""keg's warm interpreter (docs/usage.md "Warm interpreter").

`python STATE/lib/keg_warm.py [MODULE,...]` imports the preload modules once,
accepts on fd 3 (a listening Unix socket keg-agent made in its own folder,
which the run user cannot reach), and keeps one *spare* ready: a runner
(its child) that has already forked the script's process, which has its own
session, its pipes as fds 1, 2 and 3, and a fresh interpreter's signal
handlers, and waits for its orders. A run costs no fork on its path: the
spare runner accepts a supervisor's connection and the forkserver forks
the next spare. keg-agent's spare supervisor connects ahead of its run, so
a run's path is one line each way (src/agent/warm-start.ts). On the
connection:

    runner -> supervisor   spare PID RUNNER_PID FD_OUT FD_ERR FD_REC\\n
                           (at once; the supervisor opens /proc/RUNNER_PID/fd/FD_*)
    supervisor -> runner   {"argv": [...], "cwd": "...", "env": {...}}\\n
    runner -> supervisor   running\\n   or   refused WHY\\n
    runner -> supervisor   exit CODE SIGNAL\\n

The script's process runs nothing before the runner has checked the orders
and passed them on (then it says `running`): a supervisor told `refused`
starts a fresh interpreter instead. One that loses the runner after sending
orders may not: the script may have started. The runner is a child
subreaper, so what the script leaves behind is reparented to it; the
supervisor ends that with the run, the runner reaps it and leaves. The
forkserver leaves when its stdin (a pipe from keg-agent) ends.
"""
import os
import sys


def preload(names):
    """Imports the --preload modules before anything of ours; returns (name, problem) for those that fail."""
    failed = []
    for name in names:
        try:
            __import__(name)
        except BaseException as error:
            failed.append((name, f"{type(error).__name__}: {error}"))
    return failed


PRELOAD = [name for name in (sys.argv[1].split(",") if len(sys.argv) > 1 else []) if name] if __name__ == "__main__" else []
PRELOAD_FAILED = preload(PRELOAD)
KEPT = set(sys.modules)

import builtins  # noqa: E402 (after the preloads: see OURS)
import ctypes  # noqa: E402
import fcntl  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import types  # noqa: E402
from importlib.machinery import SourceFileLoader  # noqa: E402

# What only the forkserver imported: a script importing one of these gets its own, as in a fresh
# interpreter (a script named json.py next to `import json` imports itself there too).
OURS = set(sys.modules) - KEPT

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MAX_ORDERS = 16 * 1024 * 1024
LIBC = ctypes.CDLL(None, use_errno=True)


def say(*words):
    os.write(1, (" ".join(str(w).replace("\n", " ") for w in words) + "\n").encode())


def read_line(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk or len(data) > MAX_ORDERS:
            return None
        data += chunk
    return data[:-1]


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fresh_signals():
    """The handlers a fresh interpreter starts with, and no blocked signal."""
    for number in signal.valid_signals():
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if number == signal.SIGINT:
                signal.signal(number, signal.default_int_handler)
            elif number in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(number, signal.SIG_IGN)
            else:
                signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.set_wakeup_fd(-1)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exit_status(error):
    """What Python's own main makes of an uncaught SystemExit."""
    code = error.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:
        pass
    return 1


def finish(status, interrupted):
    """Python's own shutdown order: non-daemon threads, atexit, flush; then exit."""
    try:
        # As Python's own shutdown: only when the script brought threading in.
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
    except BaseException:
        pass
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            status = 120
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def die_with(parent):
    """SIGKILL when `parent` ends (and leave now if it already has)."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def prepare_script(writers, orders_fd, runner):
    """The spare script's process, ahead of its run: session, fds 0-3, signals. Returns at its orders."""
    die_with(runner)
    os.setsid()
    # Out of the way of 0-3 first: a pipe end may itself be 3.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in writers]
    for fd in writers:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for target, fd in zip((1, 2, 3), high):
        os.dup2(fd, target)
        os.close(fd)
    fresh_signals()
    clean_slate()
    orders = read_all(orders_fd)
    os.close(orders_fd)
    if not orders:
        os._exit(0)  # the run went elsewhere
    # From here on a run of its own: it outlives its runner like a fresh interpreter outlives its supervisor.
    LIBC.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    run_script(json.loads(orders))


def clean_slate():
    """What does not depend on the run, done while the spare waits: none of the forkserver's own modules, environment or frozen objects."""
    # A fresh interpreter's collector has nothing frozen (the pages stay shared until a full collection).
    gc.unfreeze()
    for name in OURS:
        sys.modules.pop(name, None)
    os.environ.clear()


def run_script(orders):
    """The script, as `python SCRIPT ARGS...` would run it."""
    argv = orders["argv"]
    path = argv[1]
    os.chdir(orders["cwd"])
    os.environ.update(orders["env"])
    sys.argv = list(argv[1:])
    sys.orig_argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    main = types.ModuleType("__main__")
    main.__file__ = os.path.abspath(path)
    main.__cached__ = None
    main.__loader__ = SourceFileLoader("__main__", main.__file__)
    main.__builtins__ = builtins
    main.__annotations__ = {}
    sys.modules["__main__"] = main
    interrupted = False
    try:
        with open(main.__file__, "rb") as file:
            source = file.read()
        code = compile(source, main.__file__, "exec", dont_inherit=True)
        exec(code, main.__dict__)
        status = 0
    except SystemExit as error:
        status = exit_status(error)
    except BaseException as error:
        # Without this frame: the traceback starts at the script, as Python's own does.
        trace = error.__traceback__.tb_next if error.__traceback__ else None
        if isinstance(error, SyntaxError):
            trace = None
        error.__traceback__ = trace
        sys.excepthook(type(error), error, trace)
        interrupted = isinstance(error, KeyboardInterrupt)
        status = 1
    finish(status, interrupted)


def spare_runner(listener, taken, forkserver):
    """A runner ahead of its run: its script's process forked and waiting, itself waiting for a supervisor."""
    die_with(forkserver)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # keg-agent's pipes are the forkserver's, not a run's: a runner must not keep them open.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pipes = [os.pipe() for _ in range(3)]
    for reader, _ in pipes:
        try:
            fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 1 << 20)  # as a cold run's (src/platform/output-pipes.ts)
        except OSError:
            pass
    orders_read, orders_write = os.pipe()
    runner = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            listener.close()
            os.close(taken)
            os.close(orders_write)
            for reader, _ in pipes:
                os.close(reader)
            prepare_script([writer for _, writer in pipes], orders_read, runner)
        except BaseException as error:
            try:
                os.write(2, f"keg: the warm interpreter could not start the script: {error}\n".encode())
            finally:
                os._exit(1)
    os.close(orders_read)
    for _, writer in pipes:
        os.close(writer)
    conn, _ = listener.accept()
    # A run's from here: it outlives the forkserver (a forkserver that ends before this line takes
    # the spare with it, and the supervisor, told nothing yet, starts the run cold).
    LIBC.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    listener.close()
    os.write(taken, b"t")
    os.close(taken)
    serve_run(conn, pid, pipes, orders_write)


def serve_run(conn, pid, pipes, orders_write):
    """One run: hand the pipes over, give the script its orders, report its end, reap what it left."""
    conn.sendall(f"spare {pid} {os.getpid()} {' '.join(str(r) for r, _ in pipes)}\n".encode())
    line = read_line(conn)
    # The supervisor opened its ends before it sent the orders.
    for reader, _ in pipes:
        os.close(reader)
    problem = "no orders" if not line else None
    if problem is None:
        try:
            orders = json.loads(line)
            # What a fresh interpreter would fail on before running anything: the run starts cold instead.
            os.close(os.open(orders["argv"][1], os.O_RDONLY))
            os.stat(orders["cwd"])
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
    if problem is not None:
        try:
            conn.sendall(f"refused {problem}".replace("\n", " ").encode()[:1000] + b"\n")
        except OSError:
            pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os._exit(0)
    write_all(orders_write, line)
    os.close(orders_write)
    try:
        conn.sendall(b"running\n")
    except OSError:
        pass  # the supervisor is gone: the script runs on, as a fresh interpreter's would
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        report = f"exit {128 + number} {name}\n"
    else:
        report = f"exit {os.WEXITSTATUS(status)} -\n"
    try:
        conn.sendall(report.encode())
    except OSError:
        pass  # the supervisor is gone: the run's exit record is lost either way
    # What the script left behind was reparented here: the supervisor ends it, we reap it.
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    os._exit(0)


def fork_spare(listener):
    """Forks the next spare runner; returns the pipe that says when it is taken (or gone)."""
    taken_read, taken_write = os.pipe()
    forkserver = os.getpid()
    if os.fork() == 0:
        try:
            os.close(taken_read)
            spare_runner(listener, taken_write, forkserver)
        finally:
            os._exit(1)
    os.close(taken_write)
    return taken_read


def main():
    for name, problem in PRELOAD_FAILED:
        say("preload-failed", name, problem)
    listener = socket.socket(fileno=3)
    # Runners are reaped by the kernel; each one reaps its own script.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # The first compile() in a process sets up the compiler (~3 ms in each forked child otherwise);
    # compiling a constant here defines nothing a script could see.
    compile("pass\n", "<keg-warm>", "exec", dont_inherit=True)
    # What is here now stays shared with every fork: the collector never touches (copies) it.
    gc.freeze()
    taken = fork_spare(listener)
    say("ready", os.getpid())
    while True:
        ready, _, _ = select.select([0, taken], [], [])
        if 0 in ready and not os.read(0, 4096):
            break
        if taken in ready:
            # Taken by a run, or gone: either way the next one.
            os.read(taken, 1)
            os.close(taken)
            taken = fork_spare(listener)
    # The spare ends with us (its parent-death signal); one taken by a run a moment ago does not.


if __name__ == "__main__":
    main()
