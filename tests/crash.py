"""Crash helpers for the sanitize tests: run a job in a forked child that dies where UCFAST_FAULT says."""
import os
import signal

import torch

import ucfast


def run_in_child(data, fault: str | None = None, limit_bytes: int | None = None, **options) -> tuple[int, str]:
    """ucfast.sanitize(data, **options) in a forked child with one torch thread (as a DataLoader worker
    runs): UCFAST_FAULT=fault kills it at that point; limit_bytes caps the size of any file it writes
    (RLIMIT_FSIZE, as a full disk would fail a write). Returns (wait status, the error it raised or "")."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read)
            torch.set_num_threads(1)
            if fault is not None:
                os.environ["UCFAST_FAULT"] = fault
            if limit_bytes is not None:
                import resource

                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
            ucfast.sanitize(data, **options)
        except BaseException as e:
            os.write(write, f"{type(e).__name__}: {e}".encode())
            code = 3
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)  # not the pipe's end of file: a DataLoader worker may hold its write end
    os.set_blocking(read, False)
    try:
        message = os.read(read, 1 << 16).decode()
    except BlockingIOError:
        message = ""
    finally:
        os.close(read)
    return status, message


def killed(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
