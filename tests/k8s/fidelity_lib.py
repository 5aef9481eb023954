# The machinery of test-fidelity: the two targets (a kube-emulator of our own, the real
# kube-apiserver of SRVLAB_K8S_ENV), a session that sends the script's requests to one of
# them and reduces each answer to the fields that must agree, and the comparison.
import http.client
import json
import os
import re
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

SOURCE_ROOT = os.environ.get("SRVLAB_SOURCE_ROOT") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_ROOT = os.environ.get("SRVLAB_BUILD_ROOT") or os.path.join(SOURCE_ROOT, "build")


def k8s_env():
    d = os.environ.get("SRVLAB_K8S_ENV")
    if not d:
        return None
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    return env


class Emulator:
    """A kube-emulator of this test's own on a free loopback port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="srvlab-fidelity.")
        port_file = os.path.join(self.dir, "port")
        binary = os.path.join(BUILD_ROOT, "tools", "kube-emulator", "kube-emulator")
        self.log = open(os.path.join(self.dir, "emulator.log"), "w")
        self.proc = subprocess.Popen([binary, "--port-file=" + port_file, "--quiet"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("kube-emulator did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class Target:
    def __init__(self, name, host, port, context=None):
        self.name, self.host, self.port, self.context = name, host, port, context
        self.compact = None  # set below: () -> HTTP status of the compaction

    def connect(self, timeout=30):
        if self.context is not None:
            return http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                               timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def send(self, method, path, body=None, ctype="application/json"):
        conn = self.connect()
        headers = {"Accept": "application/json"}
        if body is not None:
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            headers["Content-Type"] = ctype
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def cleanup(self, collections, label):
        if self.context is None:
            return  # a fresh emulator: nothing of an earlier run
        for c in collections:
            self.send("DELETE", c + "?labelSelector=" + urllib.parse.quote(label))


def emulator_target(emu):
    t = Target("emulator", "127.0.0.1", emu.port)
    t.compact = lambda: t.send("POST", "/_emulator/compact")[0]
    return t


def real_target(env):
    pki = os.path.join(env["SRVLAB_K8S_DIR"], "pki")
    ctx = ssl.create_default_context(cafile=env["SRVLAB_K8S_CA"])
    ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
    url = urllib.parse.urlsplit(env["SRVLAB_K8S_SERVER"])
    t = Target("real", url.hostname, url.port, ctx)
    etcd = urllib.parse.urlsplit(env["SRVLAB_K8S_ETCD_URL"])

    def compact():  # etcd's own compaction at its current revision, as the API server's
        conn = http.client.HTTPConnection(etcd.hostname, etcd.port, timeout=30)
        conn.request("POST", "/v3/kv/range", body=b'{"key":"AA=="}')
        rev = json.loads(conn.getresponse().read())["header"]["revision"]
        conn.request("POST", "/v3/kv/compaction",
                     body=json.dumps({"revision": rev, "physical": True}).encode())
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status
    t.compact = compact
    return t


class Resp:
    def __init__(self, status, raw):
        self.status = status
        try:
            self.obj = json.loads(raw)
        except ValueError:
            self.obj = None
        meta = self.obj.get("metadata") if isinstance(self.obj, dict) else None
        self.rv = (meta or {}).get("resourceVersion")


def cont(r):
    return urllib.parse.quote(((r.obj or {}).get("metadata") or {}).get("continue") or "")


def list_rv(r):
    return r.rv or "0"


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The words of the JSON parser itself (Go's encoding/json, json-glib) after the server's own.
PARSER = re.compile(r"(json parse error: |error decoding patch: (?!json: cannot unmarshal)|"
                    r"continue key is not valid: ).*")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def norm(msg):
    """A Status message's shape: its first line (the real server's 422 adds a diff of the
    object), uids, timestamps and numbers (resourceVersions) replaced."""
    if msg is None:
        return None
    msg = PARSER.sub(r"\1<parser error>", msg.split("\n")[0])
    msg = TIME.sub("<time>", UUID.sub("<uid>", msg))
    return re.sub(r"\d+", "<n>", msg)


def summarise_status(obj):
    details = obj.get("details") or {}
    causes = sorted("%s %s" % (c.get("reason"), c.get("field"))
                    for c in details.get("causes") or [])
    return {"reason": obj.get("reason"), "code": obj.get("code"),
            "message": norm(obj.get("message")),
            "details": "name=%s kind=%s retryAfter=%s causes=%s" % (
                details.get("name"), details.get("kind"),
                details.get("retryAfterSeconds"), causes)}


def summarise_list(obj, shape_only):
    meta = obj.get("metadata") or {}
    items = obj.get("items") or []
    out = {"kind": obj.get("kind"), "metadata": sorted(meta),
           "item-members": sorted({k for i in items for k in i if k in ("kind", "apiVersion")})}
    rest = meta.get("remainingItemCount")
    if shape_only:
        out["items"] = "%d" % len(items)
        out["remainingItemCount"] = type(rest).__name__
    else:
        out["items"] = " ".join(i["metadata"]["name"] for i in items)
        out["remainingItemCount"] = rest
    return out


def summarise(status, obj, shape_only, previous_rv):
    out = {"http": status}
    if not isinstance(obj, dict):
        out["body"] = "not JSON" if obj is None else type(obj).__name__
        return out
    kind = obj.get("kind") or ""
    if kind == "Status":
        out.update(summarise_status(obj))
    elif kind.endswith("List"):
        out.update(summarise_list(obj, shape_only))
    else:
        meta = obj.get("metadata") or {}
        out["kind"] = kind
        out["annotations"] = sorted(meta["annotations"]) if "annotations" in meta else None
        out["rv"] = "new" if previous_rv is None else (
            "same" if meta.get("resourceVersion") == previous_rv else "changed")
    return out


class Session:
    """The script run against one target: every request recorded with its summary."""

    def __init__(self, target):
        self.t = target
        self.records = []
        self.ctx = {}
        self.rvs = {}  # name -> last resourceVersion this session saw

    def record(self, step, request, summary):
        self.records.append((step, request, summary))

    def req(self, step, method, path, body=None, ctype="application/json", shape_only=False):
        status, raw = self.t.send(method, path, body, ctype)
        r = Resp(status, raw)
        name = path.split("?")[0].rsplit("/", 1)[-1]
        kind = (r.obj or {}).get("kind", "") if isinstance(r.obj, dict) else ""
        prev = self.rvs.get(name) if method != "POST" else None
        summary = summarise(status, r.obj, shape_only, prev)
        if kind not in ("", "Status") and not kind.endswith("List") and r.rv:
            self.rvs[(r.obj.get("metadata") or {}).get("name", name)] = r.rv
        self.record(step, "%s %s" % (method, path), summary)
        return r

    def compact(self, step):
        self.record(step, "compaction at the current revision", {"http": self.t.compact()})

    def watch(self, step, path, during=None):
        conn = self.t.connect(timeout=60)
        conn.request("GET", path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        if during is not None:
            during()
        summary = {"http": resp.status}
        if resp.status != 200:
            r = Resp(resp.status, resp.read())
            summary.update(summarise(resp.status, r.obj, False, None))
        else:
            summary.update(read_events(resp))
        conn.close()
        self.record(step, "WATCH " + path, summary)


def read_events(resp):
    events, bookmarks, end = [], [], "clean"
    try:
        while True:
            line = resp.readline()
            if not line:
                break
            ev = json.loads(line)
            obj = ev.get("object") or {}
            if ev.get("type") == "BOOKMARK":
                bookmarks.append(obj)
            elif ev.get("type") == "ERROR":
                s = summarise_status(obj)
                events.append("ERROR %s %s %s" % (s["code"], s["reason"], s["message"]))
            else:
                events.append("%s %s %s" % (ev.get("type"), obj.get("kind"),
                                            (obj.get("metadata") or {}).get("name")))
    except (http.client.HTTPException, OSError, ValueError) as e:
        end = "error: %s" % type(e).__name__
    return {"events": events, "bookmarks": bookmark_shape(bookmarks), "end": end}


def bookmark_shape(bookmarks):
    if not bookmarks:
        return "none"
    bad = [b for b in bookmarks
           if not str((b.get("metadata") or {}).get("resourceVersion", "")).isdigit()]
    kinds = sorted({b.get("kind") for b in bookmarks})
    return "%s, kind %s" % ("bad resourceVersion" if bad else "with resourceVersion",
                            ",".join(map(str, kinds)))


def run_all(targets, script, ctx):
    """Runs the script against every target at once; answers each target's records."""
    sessions = [Session(t) for t in targets]
    for s in sessions:
        s.ctx.update(ctx)

    def run(s):
        try:
            script(s)
        except Exception as e:  # the comparison shows where this target's run stopped
            s.record("script-error", "-", {"error": "%s: %s" % (type(e).__name__, e)})
    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return [s.records for s in sessions]


def load_known(path):
    """fidelity-known.txt: 'STEP FIELD reason...' lines; # comments."""
    known = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            step, field, reason = (line.split(None, 2) + ["", ""])[:3]
            known[(step, field)] = reason
    return known


def short(summary):
    if "events" in summary:
        return "%s [%s] bookmarks: %s, end %s" % (summary["http"], "; ".join(summary["events"]),
                                                  summary["bookmarks"], summary["end"])
    parts = [str(summary.get("http", "-"))]
    for k in ("reason", "kind", "items", "error", "body"):
        if summary.get(k) is not None:
            parts.append(str(summary[k]))
    return " ".join(parts)


def differs(field, emulator, real):
    # The real server sends bookmarks when its timer says (about 2 s before timeoutSeconds, or
    # each minute): a stream without one says nothing; one it sent must look like ours.
    if field == "bookmarks" and real == "none":
        return False
    return emulator != real


def report(runs, known):
    emu, real = ({step: (req, s) for step, req, s in recs} for recs in runs)
    order = [step for step, _, _ in runs[0]] + [s for s, _, _ in runs[1] if s not in emu]
    print("1..%d" % len(order))
    print("# %-32s | %-48s | %s" % ("step", "emulator", "real kube-apiserver"))
    for step in order:
        print("# %-32s | %-48s | %s" % (step, short(emu.get(step, ("", {}))[1]),
                                        short(real.get(step, ("", {}))[1])))
    failed, used = 0, set()
    for i, step in enumerate(order, 1):
        req, a = emu.get(step, ("-", {}))
        b = real.get(step, ("-", {}))[1]
        diffs = [k for k in sorted(set(a) | set(b)) if differs(k, a.get(k), b.get(k))]
        new = [k for k in diffs if (step, k) not in known]
        used.update((step, k) for k in diffs)
        note = "; ".join("known %s: %s" % (k, known[(step, k)]) for k in diffs if k not in new)
        print("%s %d - %s%s" % ("not ok" if new else "ok", i, step, " # " + note if note else ""))
        for k in diffs:
            print("#   %s %s\n#     emulator: %r\n#     real:     %r" % (
                "DIFFERENT" if k in new else "known", k, a.get(k), b.get(k)))
        if new:
            print("#   request: %s" % req)
        failed += bool(new)
    for step, field in sorted(set(known) - used):
        print("# allow-list entry without a difference (stale?): %s %s" % (step, field))
    return failed
