"""A FIFO that a test can open without hanging forever if the code under test blocks."""
import os
import threading
import time


def unblock_fifo_later(fifo, delay=5.0):
    """Open the FIFO for writing after ``delay`` s, so a reader blocked on it (the old bug)
    gets EOF instead of hanging the test suite; returns the thread."""
    def unblock():
        time.sleep(delay)
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: nobody is reading, which is the point
            pass
    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    return thread
