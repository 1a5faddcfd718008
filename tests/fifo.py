"""A FIFO that a test can open without hanging forever if the code under test blocks."""
import os
import threading
import time


def unblock_fifo_later(fifo, delay=5.0, times=10):
    """Open the FIFO for writing after ``delay`` s and then every second, ``times`` times in
    all, so a reader blocked on it (the old bug; it may open it more than once) gets EOF
    instead of hanging the test suite; returns the thread."""
    def unblock():
        time.sleep(delay)
        for _ in range(times):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: nobody is reading, which is the point
                pass
            time.sleep(1)
    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    return thread
