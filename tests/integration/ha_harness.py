"""Redis high-availability fixtures for the integration tests: a primary, replicas and
redis-sentinel processes on free loopback ports (Debian's redis-server and redis-sentinel),
plus a fake sentinel that names an address of our choosing. Nothing is mocked but that
deliberately lying sentinel.

    cluster = HACluster(workdir, replicas=2, sentinels=3).start()
    cluster.master_port()           # what the sentinels say now
    cluster.kill_primary()          # SIGKILL
    cluster.wait_failover(old_port) # until the sentinels name another master
"""
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time

from harness import Redis, _read_reply, child_setup, free_port, wait_port, wait_until

MASTER_NAME = "relay"
SENTINEL_PASSWORD = "sentinel-pw-DO-NOT-LOG-3b7d"


def resp_cmd(port, *args, password=None, timeout=3):
    """One command on a fresh connection (optionally AUTH first); returns the parsed reply,
    raises RuntimeError on an error reply and OSError when nothing answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        cmds = ([("AUTH", password)] if password else []) + [args]
        out = b""
        for c in cmds:
            out += b"*%d\r\n" % len(c)
            for a in c:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        f = s.makefile("rb")
        if password:
            _read_reply(f)
        return _read_reply(f)


def exists_many(port, keys):
    """EXISTS for each key, pipelined on one connection: [bool]."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        out = b"".join(b"*2\r\n$6\r\nEXISTS\r\n$%d\r\n%s\r\n" % (len(k), k.encode())
                       for k in keys)
        s.sendall(out)
        f = s.makefile("rb")
        return [_read_reply(f) == 1 for _ in keys]


class Node(Redis):
    """A redis-server, optionally a replica of primary_port. AOF on (everysec), as in
    production, so a restarted node comes back with its data before it resyncs."""

    def __init__(self, workdir, replica_of=None, port=None):
        super().__init__(workdir, appendonly=True, fsync="everysec", port=port)
        self.replica_of = replica_of

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--appendonly", "yes", "--appendfsync", "everysec", "--loglevel", "warning",
                "--logfile", os.path.join(self.dir, "redis.log"),
                "--repl-ping-replica-period", "1", "--repl-timeout", "5",
                # Debian's default waits 5 s before a diskless full sync: too slow for a test.
                "--repl-diskless-sync-delay", "0"]
        if self.replica_of:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=child_setup())
        wait_port(self.port)
        wait_until(lambda: self._pong(), timeout=10, what="redis %d answers" % self.port)
        return self

    def _pong(self):
        try:
            return resp_cmd(self.port, "PING") == "PONG"
        except (OSError, RuntimeError):
            return False  # LOADING while it reads its AOF

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def role(self):
        try:
            return resp_cmd(self.port, "ROLE")[0]
        except (OSError, RuntimeError, TypeError, IndexError):
            return None

    def in_sync(self):
        """A replica whose link to its master is up (full sync done)."""
        try:
            return "master_link_status:up" in resp_cmd(self.port, "INFO", "replication")
        except (OSError, RuntimeError):
            return False

    def stop_process(self):
        """SIGSTOP: the node stops answering, its replication link stalls."""
        self.proc.send_signal(signal.SIGSTOP)

    def cont_process(self):
        self.proc.send_signal(signal.SIGCONT)


class Sentinel:
    """A redis-sentinel monitoring MASTER_NAME, requiring SENTINEL_PASSWORD from clients."""

    def __init__(self, workdir, primary_port, quorum=2, port=None):
        self.port = port or free_port()
        self.dir = os.path.join(workdir, "sentinel-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n" % (self.port, self.dir))
            f.write("logfile %s\n" % os.path.join(self.dir, "sentinel.log"))
            f.write("requirepass %s\n" % SENTINEL_PASSWORD)
            f.write("sentinel sentinel-pass %s\n" % SENTINEL_PASSWORD)
            f.write("sentinel monitor %s 127.0.0.1 %d %d\n" % (MASTER_NAME, primary_port, quorum))
            f.write("sentinel down-after-milliseconds %s 1000\n" % MASTER_NAME)
            f.write("sentinel failover-timeout %s 4000\n" % MASTER_NAME)
            f.write("sentinel parallel-syncs %s 2\n" % MASTER_NAME)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["redis-sentinel", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child_setup())
        wait_port(self.port)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def master_port(self):
        """The master's port as this sentinel sees it, None when it does not answer."""
        try:
            r = resp_cmd(self.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME,
                         password=SENTINEL_PASSWORD, timeout=1)
            return int(r[1]) if r else None
        except (OSError, RuntimeError, TypeError, ValueError):
            return None

    def log(self):
        try:
            with open(os.path.join(self.dir, "sentinel.log")) as f:
                return f.read()
        except OSError:
            return ""


class FakeSentinel:
    """Answers every client like a sentinel that names host:port as the master (e.g. a closed
    port): AUTH and PING get +OK/+PONG, SENTINEL get-master-addr-by-name gets the address.
    Counts the address queries in .asked."""

    def __init__(self, host="127.0.0.1", port=None):
        self.addr = (host, port or free_port())
        self.port = free_port()
        self.asked = 0
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    try:
                        cmd = _read_reply(self.rfile)
                    except (OSError, RuntimeError):
                        return
                    word = (cmd[0] if isinstance(cmd, list) and cmd else "").upper()
                    if word == "SENTINEL":
                        fake.asked += 1
                        h, p = fake.addr[0].encode(), str(fake.addr[1]).encode()
                        out = b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(h), h, len(p), p)
                    elif word == "PING":
                        out = b"+PONG\r\n"
                    else:
                        out = b"+OK\r\n"
                    try:
                        self.wfile.write(out)
                    except OSError:
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HACluster:
    """A primary, `replicas` replicas and `sentinels` sentinels (quorum 2)."""

    def __init__(self, workdir, replicas=2, sentinels=3):
        self.workdir = workdir
        self.primary = Node(workdir)
        self.replicas = [Node(workdir, replica_of=self.primary.port) for _ in range(replicas)]
        self.sentinels = [Sentinel(workdir, self.primary.port) for _ in range(sentinels)]

    @property
    def nodes(self):
        return [self.primary] + self.replicas

    def start(self):
        self.primary.start()
        for r in self.replicas:
            r.start()
        wait_until(lambda: all(r.in_sync() for r in self.replicas), timeout=20,
                   what="replicas in sync")
        for s in self.sentinels:
            s.start()
        # Every sentinel has found the replicas and its peers: a failover needs both.
        wait_until(self._sentinels_know_all, timeout=20, what="sentinels see replicas and peers")
        return self

    def _sentinels_know_all(self):
        for s in self.sentinels:
            try:
                reps = resp_cmd(s.port, "SENTINEL", "replicas", MASTER_NAME,
                                password=SENTINEL_PASSWORD, timeout=1)
                peers = resp_cmd(s.port, "SENTINEL", "sentinels", MASTER_NAME,
                                 password=SENTINEL_PASSWORD, timeout=1)
            except (OSError, RuntimeError):
                return False
            if len(reps) < len(self.replicas) or len(peers) < len(self.sentinels) - 1:
                return False
        return True

    def sentinel_addresses(self):
        return ["127.0.0.1:%d" % s.port for s in self.sentinels]

    def node(self, port):
        return next(n for n in self.nodes if n.port == port)

    def master_port(self):
        """What a majority of the live sentinels say, else None."""
        votes = {}
        for s in self.sentinels:
            p = s.master_port() if s.proc else None
            if p:
                votes[p] = votes.get(p, 0) + 1
        best = max(votes.items(), key=lambda kv: kv[1], default=(None, 0))
        return best[0] if best[1] >= 2 else None

    def connected_replicas(self, port):
        try:
            info = resp_cmd(port, "INFO", "replication")
        except (OSError, RuntimeError):
            return -1
        for line in info.splitlines():
            if line.startswith("connected_slaves:"):
                return int(line.split(":")[1])
        return -1

    def kill_primary(self):
        """SIGKILL the current master; returns its node."""
        node = self.node(self.master_port())
        node.kill()
        return node

    def wait_failover(self, old_port, timeout=30):
        """Until the sentinels name a master other than old_port that says it is one."""
        def promoted():
            p = self.master_port()
            return p if p and p != old_port and self.node(p).role() == "master" else None
        return wait_until(promoted, timeout=timeout, step=0.1, what="sentinels promote a replica")

    def close(self):
        for s in self.sentinels:
            s.kill()
        for n in self.nodes:
            if n.proc and n.proc.poll() is None:
                n.cont_process()
            n.kill()

    def logs(self):
        return "\n".join("--- sentinel %d\n%s" % (s.port, s.log()[-2000:]) for s in self.sentinels)


def ha_redis_config(cluster, min_replicas=None, replica_timeout_ms=None, addresses=None):
    """The `redis` block of a relay config for the cluster."""
    r = {"url": "redis://127.0.0.1:%d/0" % cluster.primary.port, "prefix": "relay",
         "sentinel": {"addresses": addresses or cluster.sentinel_addresses(),
                      "master": MASTER_NAME, "password": "env:SENTINEL_PASSWORD"}}
    if min_replicas is not None:
        r["min_replicas"] = min_replicas
    if replica_timeout_ms is not None:
        r["replica_timeout_ms"] = replica_timeout_ms
    return r


HA_ENV = {"SENTINEL_PASSWORD": SENTINEL_PASSWORD}


def wait_time(pred, timeout, step=0.05):
    """Like wait_until but returns the seconds it took (raises AssertionError on timeout)."""
    t0 = time.monotonic()
    wait_until(pred, timeout=timeout, step=step)
    return time.monotonic() - t0
