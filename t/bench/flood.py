#!/usr/bin/python3
"""Connection floods for ./build.sh bench (t/bench/floods.sh).

usage: flood.py slowloris|idle HOST PORT CONNECTIONS [INTERVAL_S]

slowloris: every connection sends a request line and then one byte of a
    header every INTERVAL_S seconds (default 5), never ending the head.
idle: every connection sends one complete keep-alive request
    (GET /api/v1/health), reads the answer and then sits idle.

Either way a connection the server closes is opened again at once, as an
attacker would, so the flood keeps CONNECTIONS open (new connections are
paced at OPEN_RATE a second).  Every 2 s it writes "open N reconnects R"
to stdout; it runs until SIGTERM/SIGINT.
"""
import asyncio
import signal
import sys

OPEN_RATE = 1000
HEAD = b"GET /api/v1/health HTTP/1.1\r\nHost: flood\r\n"


class Flood:
    def __init__(self, mode, host, port, n, interval):
        self.mode, self.host, self.port = mode, host, port
        self.n, self.interval = n, interval
        self.open = 0
        self.reconnects = 0
        # slots: permissions to open, granted by pace(); pending: granted
        # and not taken yet
        self.slots = asyncio.Semaphore(0)
        self.pending = 0

    async def connection(self):
        while True:
            await self.slots.acquire()
            self.pending -= 1
            try:
                reader, writer = await asyncio.open_connection(self.host,
                                                               self.port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            self.open += 1
            try:
                if self.mode == "slowloris":
                    await self.slowloris(reader, writer)
                else:
                    await self.idle(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                self.open -= 1
                self.reconnects += 1
                writer.close()

    async def slowloris(self, reader, writer):
        writer.write(HEAD)
        await writer.drain()
        while True:
            # the server closing shows as EOF on the read side
            try:
                data = await asyncio.wait_for(reader.read(4096),
                                              self.interval)
                if not data:
                    return
            except asyncio.TimeoutError:
                pass
            writer.write(b"X")
            await writer.drain()

    async def idle(self, reader, writer):
        writer.write(HEAD + b"\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        # idle until the server gives up on the connection
        while await reader.read(4096):
            pass

    async def pace(self):
        """Lets OPEN_RATE connections a second (re)open."""
        while True:
            want = self.n - self.open - self.pending
            for _ in range(max(0, min(want, OPEN_RATE // 10))):
                self.pending += 1
                self.slots.release()
            await asyncio.sleep(0.1)

    async def report(self):
        while True:
            print(f"open {self.open} reconnects {self.reconnects}",
                  flush=True)
            await asyncio.sleep(2)

    async def run(self):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(self.connection())
                 for _ in range(self.n)]
        tasks += [asyncio.create_task(self.pace()),
                  asyncio.create_task(self.report())]
        await stop.wait()
        for t in tasks:
            t.cancel()


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in ("slowloris", "idle"):
        sys.exit(__doc__)
    mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    interval = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
    asyncio.run(Flood(mode, host, port, n, interval).run())


if __name__ == "__main__":
    main()
