"""Objects that survive kept out of the garbage collector's walks: app.py's setting, and the
bench's bare relay's, which as the stack's ceiling must pause no more than SendApp does."""
import gc


def frozen_survivors_loop(every, thaw_every, sleep):
    """A background task's body: gc.freeze() after each `every` seconds, and each
    `thaw_every` seconds gc.unfreeze() and one full collection first (app.py:
    freeze_survivors says why). `sleep` is the async mode's own."""

    def loop():
        since_thaw = 0.0
        while True:
            sleep(every)
            since_thaw += every
            if since_thaw >= thaw_every:
                gc.unfreeze()
                gc.collect()
                since_thaw = 0.0
            gc.freeze()

    return loop
