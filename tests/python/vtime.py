# Virtual time for the reference scripts: a selector event loop whose clock only moves when it
# would otherwise sleep, jumping straight to the next timer (what RunOptions::virtual_time does
# on our side). vtime.run(coro) replaces asyncio.run(coro).
import asyncio


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        super().__init__()
        self._vt = 0.0
        real_select = self._selector.select

        def select(timeout=None):
            if timeout is not None and timeout > 0:
                self._vt += timeout
            return real_select(0)

        self._selector.select = select

    def time(self):
        return self._vt


def run(coro, debug=None):
    with asyncio.Runner(loop_factory=VirtualLoop, debug=debug) as r:
        return r.run(coro)
