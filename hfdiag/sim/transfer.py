"""Hub transfer: /resolve, xet read token, CAS reconstructions, CDN bridge and xorb transfer (xet-transfer-dns.md)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .faults import _find_conn, abort_connection, wait_disconnect_or_close
from .state import fake_jwt

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState

CHUNK = 64 * 1024
XORB_CHUNKS = 1024
HDR = 8
_PATTERN = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(32768))  # 1 MiB


def _jr(data, status=200, headers=None):
    return Response(json.dumps(data, separators=(",", ":")), status_code=status,
                    media_type="application/json; charset=utf-8", headers=headers)


class SimFile:
    def __init__(self, repo_type: str, repo_id: str, path: str, size: int, backend: str, commit: str,
                 private: bool, owner_role: str) -> None:
        self.repo_type, self.repo_id, self.path, self.size, self.backend = repo_type, repo_id, path, size, backend
        self.commit, self.private, self.owner_role = commit, private, owner_role
        seed = f"{repo_type}/{repo_id}/{path}/{size}".encode()
        self.sha256 = hashlib.sha256(b"sha256:" + seed).hexdigest()
        self.xet_hash = hashlib.sha256(b"xet:" + seed).hexdigest()
        self.git_sha1 = hashlib.sha1(b"git:" + seed).hexdigest()
        self.shift = int(self.sha256[:6], 16) % len(_PATTERN)

    def read(self, start: int, end_excl: int, piece: int = 256 * 1024):
        """Deterministic content bytes [start, end_excl), in pieces; nothing is held in memory."""
        if self.backend == "git":
            data = self.git_content()
            for i in range(start, end_excl, piece):
                yield data[i:min(end_excl, i + piece)]
            return
        pos = start
        n = len(_PATTERN)
        while pos < end_excl:
            off = (pos + self.shift) % n
            take = min(piece, end_excl - pos, n - off)
            yield _PATTERN[off:off + take]
            pos += take

    def git_content(self) -> bytes:
        head = json.dumps({"_sim": True, "repo": self.repo_id, "path": self.path}).encode()
        if self.size <= len(head):
            return head[: self.size]
        return head[:-1] + b', "pad": "' + b"x" * max(0, self.size - len(head) - 11) + b'"}'

    # xorb layout -------------------------------------------------------------------------------------------------
    @property
    def nchunks(self) -> int:
        return max(1, -(-self.size // CHUNK))

    def chunk_len(self, idx: int) -> int:
        return min(CHUNK, self.size - idx * CHUNK)

    def xorb_hash(self, x: int) -> str:
        return hashlib.sha256(f"xorb:{self.xet_hash}:{x}".encode()).hexdigest()

    def ser_offset(self, local: int) -> int:
        return local * (CHUNK + HDR)

    def xorb_len(self, x: int) -> int:
        first = x * XORB_CHUNKS
        last = min(self.nchunks, first + XORB_CHUNKS)
        return sum(HDR + self.chunk_len(i) for i in range(first, last)) if last - first < 4 else \
            (last - first - 1) * (CHUNK + HDR) + HDR + self.chunk_len(last - 1)

    def xorb_read(self, x: int, start: int, end_excl: int):
        """Serialized xorb bytes: per chunk an 8-byte header (v0, len u24 LE, scheme 0, len u24 LE) + raw data."""
        first = x * XORB_CHUNKS
        local = start // (CHUNK + HDR)
        pos = start
        while pos < end_excl:
            g = first + local
            if g >= self.nchunks:
                return
            clen = self.chunk_len(g)
            base = local * (CHUNK + HDR)
            hdr = bytes([0]) + clen.to_bytes(3, "little") + bytes([0]) + clen.to_bytes(3, "little")
            if pos < base + HDR:
                part = hdr[pos - base: min(HDR, end_excl - base)]
                yield part
                pos += len(part)
            if pos < end_excl and pos < base + HDR + clen:
                a = g * CHUNK + (pos - base - HDR)
                b = g * CHUNK + min(clen, end_excl - base - HDR)
                for piece in self.read(a, b):
                    yield piece
                pos = base + HDR + (b - g * CHUNK)
            local += 1


def build_repos(sim: SimState) -> dict:
    """{(type, repo_id): {"private", "owner_role", "commit", "files": {path: SimFile}}}"""
    sc = sim.scenario
    backend = sc.knob("transfer.backend")
    size = sc.knob("transfer.file_size")
    specs = [
        {"id": "simuser/sim-model", "type": "model", "files": [
            {"path": "config.json", "size": 612, "backend": "git"},
            {"path": "model.safetensors", "size": size, "backend": backend},
            {"path": "big-10g.bin", "size": 10 * 1024 ** 3, "backend": backend}]},
        {"id": "simuser/sim-dataset", "type": "dataset", "files": [
            {"path": "README.md", "size": 400, "backend": "git"},
            {"path": "data/train.parquet", "size": 5 * 1024 * 1024, "backend": backend}]},
    ]
    for sp in sim.spaces.values():
        files = sp.spec.files or [{"path": p, "size": s} for p, s in
                                  ((".gitattributes", 1519), ("README.md", 312), ("app.py", 1873),
                                   ("requirements.txt", 42))]
        specs.append({"id": sp.id, "type": "space", "private": sp.spec.private, "owner": sp.owner_role,
                      "commit": sp.sha, "files": [f if isinstance(f, dict) else {"path": f, "size": 100}
                                                  for f in files]})
    specs += [dict(r, type=r.get("type", "model")) for r in sc.repos]
    repos = {}
    for r in specs:
        commit = r.get("commit") or hashlib.sha1(f"commit:{r['type']}/{r['id']}".encode()).hexdigest()
        entry = {"private": bool(r.get("private")), "owner_role": r.get("owner", "owner"), "commit": commit,
                 "files": {}}
        for f in r.get("files") or []:
            b = f.get("backend") or ("xet" if int(f.get("size", 0)) > 10 * 1024 * 1024 else "git")
            entry["files"][f["path"]] = SimFile(r["type"], r["id"], f["path"], int(f.get("size", 100)), b, commit,
                                                entry["private"], entry["owner_role"])
        repos[(r["type"], r["id"])] = entry
    sim.by_sha = {}
    sim.by_xet = {}
    sim.by_xorb = {}
    sim.cas_tokens = set()
    for entry in repos.values():
        for f in entry["files"].values():
            sim.by_sha[f.sha256] = f
            sim.by_xet[f.xet_hash] = f
            if f.backend == "xet":
                for x in range(min(-(-f.nchunks // XORB_CHUNKS), 4096)):
                    sim.by_xorb[f.xorb_hash(x)] = (f, x)
    return repos


def _repo_error(role):
    from .hub import ANON_MSG, error
    return error(401, ANON_MSG) if role is None else error(404, "Repository not found", "RepoNotFound")


def _lookup(sim, rtype, repo_id, role):
    key = {"models": "model", "datasets": "dataset", "spaces": "space"}.get(rtype, rtype)
    entry = sim.repos.get((key, repo_id))
    if entry is None or (entry["private"] and role != entry["owner_role"]):
        return None, key
    return entry, key


def _signed(sim, path: str, extra: str = "") -> str:
    exp = int(time.time()) + 3600
    sig = hashlib.sha256(f"{path}{exp}".encode()).hexdigest()[:40]
    return f"{path}?{extra}Expires={exp}&Policy=eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiKiJ9XX0_&Signature={sig}" \
           f"&Key-Pair-Id=K3RPWS32NSSJCE"


def resolve(sim: SimState, request: Request, rtype: str, repo_id: str, rev: str, path: str, role) -> Response:
    from .hub import error
    entry, key = _lookup(sim, rtype, repo_id, role)
    if entry is None:
        return _repo_error(role)
    commit = entry["commit"]
    base = {"x-repo-commit": commit}
    if rev not in ("main", commit, "HEAD"):
        r = error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        r.headers.update(base)
        return r
    f = entry["files"].get(path)
    if f is None:
        r = error(404, "Entry not found", "EntryNotFound")
        r.headers.update(base)
        return r
    hub = sim.url("hub")
    if f.backend == "git":
        h = dict(base, etag=f'"{f.git_sha1}"', **{"accept-ranges": "bytes"})
        data = f.git_content()
        status = 200
        rng = _parse_range(request.headers.get("range"), len(data))
        if rng == "bad":
            return Response(b"", 416, headers=dict(h, **{"content-range": f"bytes */{len(data)}"}))
        if rng:
            a, b = rng
            h["content-range"] = f"bytes {a}-{b}/{len(data)}"
            data, status = data[a:b + 1], 206
        if request.method == "HEAD":
            return Response(b"", status, headers=dict(h, **{"content-length": str(len(data))}),
                            media_type="text/plain; charset=utf-8")
        return Response(data, status, headers=h, media_type="text/plain; charset=utf-8")
    h = dict(base, **{"x-linked-etag": f'"{f.sha256}"', "x-linked-size": str(f.size), "accept-ranges": "bytes",
                      "etag": f'"{f.git_sha1}"'})
    disp = quote(f'attachment; filename*=UTF-8\'\'{path.rsplit("/", 1)[-1]}; filename="{path.rsplit("/", 1)[-1]}";')
    if f.backend == "xet":
        loc = sim.url("cdn") + _signed(sim, f"/xet-bridge-us/{hashlib.sha1(repo_id.encode()).hexdigest()[:24]}/"
                                            f"{f.xet_hash}",
                                       f"X-Xet-Cas-Uid=public&response-content-disposition={disp}&x-id=GetObject&")
        h["x-xet-hash"] = f.xet_hash
        h["link"] = (f'<{hub}/api/{key}s/{repo_id}/xet-read-token/{commit}>; rel="xet-auth", '
                     f'<{sim.url("cas")}/v1/reconstructions/{f.xet_hash}>; rel="xet-reconstruction-info"')
    else:
        loc = sim.url("cdn") + _signed(sim, f"/repos/{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256}",
                                       f"response-content-disposition={disp}&")
    body = f"Found. Redirecting to {loc}".encode()
    h["location"] = loc
    return Response(body if request.method == "GET" else b"", 302,
                    headers=dict(h, **{"content-length": str(len(body))}), media_type="text/plain; charset=utf-8")


def xet_read_token(sim: SimState, request: Request, rtype, repo_id, rev, role) -> Response:
    from .hub import ANON_MSG, error
    entry, key = _lookup(sim, rtype, repo_id, role)
    if entry is None:
        return _repo_error(role)
    if role is None and not sim.knob("hub.xet_token_anonymous"):
        return error(401, ANON_MSG)
    if rev not in ("main", entry["commit"], "HEAD"):
        return error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
    exp = int(time.time()) + 3600
    tok = fake_jwt({"repo": f"{key}s/{repo_id}", "scope": "read", "exp": exp})
    sim.cas_tokens.add(tok)
    cas = sim.url("cas")
    return _jr({"accessToken": tok, "exp": exp, "casUrl": cas},
               headers={"x-xet-cas-url": cas, "x-xet-access-token": tok, "x-xet-token-expiration": str(exp)})


def _parse_range(value: str | None, size: int):
    """None (no/ignored header), 'bad' (unsatisfiable) or (start, end_inclusive)."""
    if not value:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*(?:,.*)?", value)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0:
            return "bad"
        return max(0, size - n), size - 1
    start = int(a)
    end = min(int(b), size - 1) if b else size - 1
    if start >= size or (b and int(b) < start):
        return "bad"
    return start, end


def count_sent(sim: SimState, role: str, n: int) -> None:
    """Body bytes handed to a live connection, per role (tests use it to prove a client stopped reading)."""
    counts = sim.__dict__.setdefault("body_bytes_sent", {})
    counts[role] = counts.get(role, 0) + n


async def _send_body(sim: SimState, scope, receive, send, status: int, headers: dict, chunks, apply_knobs: bool,
                     role: str = ""):
    conn = _find_conn(sim, scope)
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode(), str(v).encode()) for k, v in headers.items()]})
    if scope["method"] == "HEAD":
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    bps = sim.knob("transfer.throughput_bps") if apply_knobs else None
    stall = sim.knob("transfer.stall_after_bytes") if apply_knobs else None
    close = sim.knob("transfer.close_after_bytes") if apply_knobs else None
    sent = 0
    for chunk in chunks:
        while chunk:
            piece = chunk
            limit = min(x for x in (stall, close) if x is not None) if (stall is not None or close is not None) else None
            if limit is not None:
                piece = chunk[: max(0, limit - sent)]
            if bps:
                piece = piece[: max(1, int(bps) // 10)]
            if piece:
                if conn is not None and (conn.transport is None or conn.transport.is_closing()):
                    return  # the client left: uvicorn would drop every further send silently
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                count_sent(sim, role, len(piece))
                sent += len(piece)
                chunk = chunk[len(piece):]
                if bps and await sim.nap(len(piece) / float(bps)):
                    return
            if close is not None and sent >= close:
                abort_connection(sim, scope)
                return
            if stall is not None and sent >= stall:
                await wait_disconnect_or_close(sim, receive)
                return
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _applies(sim, role: str) -> bool:
    target = sim.knob("transfer.apply_to")
    return target == "both" or target == role


def _cf_headers(sim) -> dict:
    from .state import hexid
    return {"x-cache": "Miss from cloudfront", "x-amz-cf-pop": "IAD89-P1",
            "x-amz-cf-id": hexid(sim.rng, 40), "via": "1.1 " + hexid(sim.rng, 32) + ".cloudfront.net (CloudFront)"}


async def handle_cdn(sim: SimState, scope, receive, send) -> None:
    request = Request(scope, receive)
    path = scope["path"]
    m = re.fullmatch(r"/xet-bridge-us/[^/]+/([0-9a-f]{64})", path)
    f = sim.by_xet.get(m.group(1)) if m else None
    if f is None:
        m = re.fullmatch(r"/repos/[0-9a-f]{2}/[0-9a-f]{2}/([0-9a-f]{64})", path)
        f = sim.by_sha.get(m.group(1)) if m else None
    if f is None:
        await Response("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code></Error>", 404,
                       media_type="application/xml")(scope, receive, send)
        return
    if "Signature" not in request.query_params:
        await Response("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
                       "<Message>Access denied</Message></Error>", 403, media_type="application/xml",
                       headers=_cf_headers(sim))(scope, receive, send)
        return
    etag = f.xet_hash if m and "xet-bridge" in path else f.sha256
    h = {"content-type": "application/octet-stream", "accept-ranges": "bytes", "etag": f'"{etag}"', **_cf_headers(sim)}
    rng = None if sim.knob("transfer.cdn_ignores_range") else _parse_range(request.headers.get("range"), f.size)
    if rng == "bad":
        await Response(b"", 416, headers=dict(h, **{"content-range": f"bytes */{f.size}"}))(scope, receive, send)
        return
    if rng:
        a, b = rng
        h["content-range"] = f"bytes {a}-{b}/{f.size}"
        h["content-length"] = str(b - a + 1)
        await _send_body(sim, scope, receive, send, 206, h, f.read(a, b + 1), _applies(sim, "cdn"), "cdn")
    else:
        h["content-length"] = str(f.size)
        await _send_body(sim, scope, receive, send, 200, h, f.read(0, f.size), _applies(sim, "cdn"), "cdn")


async def handle_cas(sim: SimState, scope, receive, send) -> None:
    request = Request(scope, receive)
    path = scope["path"]
    auth = request.headers.get("authorization", "")
    tok = auth[7:] if auth.lower().startswith("bearer ") else None
    m1 = re.fullmatch(r"/v1/reconstructions/([^/]+)", path)
    if re.fullmatch(r"/v2/reconstructions/[^/]+", path):
        resp = _jr({"error": "Not Implemented"}, 501)
    elif not m1:
        resp = _jr({"error": "Not Found"}, 404)
    elif tok not in sim.cas_tokens:
        resp = _jr({"error": "Unauthorized"}, 401)
    elif not re.fullmatch(r"[0-9a-f]{64}", m1.group(1)):
        resp = _jr({"error": "Invalid file id"}, 400)
    elif m1.group(1) not in sim.by_xet or sim.by_xet[m1.group(1)].backend == "git":
        resp = _jr({"error": "File not found"}, 404)
    else:
        f = sim.by_xet[m1.group(1)]
        rng = _parse_range(request.headers.get("range"), f.size)
        if rng == "bad":
            resp = _jr({"error": "Range Not Satisfiable"}, 416, {"content-range": f"bytes */{f.size}"})
        else:
            a, b = rng or (0, f.size - 1)
            resp = _jr(reconstruction(sim, f, a, b))
    resp.headers["x-request-id"] = __import__("uuid").uuid4().hex
    await resp(scope, receive, send)


def reconstruction(sim: SimState, f, a: int, b: int) -> dict:
    c0, c1 = a // CHUNK, b // CHUNK  # inclusive chunk indices
    terms, fetch = [], {}
    x = c0 // XORB_CHUNKS
    while x * XORB_CHUNKS <= c1:
        first = x * XORB_CHUNKS
        ls = max(c0, first) - first
        le = min(c1 + 1, first + XORB_CHUNKS) - first  # exclusive
        h = f.xorb_hash(x)
        unpacked = sum(f.chunk_len(first + i) for i in range(ls, le)) if le - ls < 4 else \
            (le - ls - 1) * CHUNK + f.chunk_len(first + le - 1)
        terms.append({"hash": h, "unpacked_length": unpacked, "range": {"start": ls, "end": le}})
        us = f.ser_offset(ls)
        ue = f.ser_offset(le - 1) + HDR + f.chunk_len(first + le - 1) - 1
        url = sim.url("transfer") + _signed(sim, f"/xorbs/default/{h}",
                                            f"X-Xet-Signed-Range={quote(f'bytes={us}-{ue}', safe='')}&")
        fetch[h] = [{"url": url, "url_range": {"start": us, "end": ue}, "range": {"start": ls, "end": le}}]
        x += 1
    return {"offset_into_first_range": a - c0 * CHUNK, "terms": terms, "fetch_info": fetch}


async def handle_transfer(sim: SimState, scope, receive, send) -> None:
    request = Request(scope, receive)
    m = re.fullmatch(r"/xorbs?/default/([0-9a-f]{64})", scope["path"])
    item = sim.by_xorb.get(m.group(1)) if m else None
    denied = Response("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
                      "<Message>Request has expired or signature does not match</Message></Error>", 403,
                      media_type="application/xml", headers=_cf_headers(sim))
    if item is None:
        await Response(b"", 404)(scope, receive, send)
        return
    signed = request.query_params.get("X-Xet-Signed-Range")
    if sim.knob("transfer.signed_range_403") or "Signature" not in request.query_params or \
            request.headers.get("range") != signed:
        await denied(scope, receive, send)
        return
    f, x = item
    total = f.xorb_len(x)
    rng = _parse_range(signed, total)
    if rng in (None, "bad"):
        await Response(b"", 416, headers={"content-range": f"bytes */{total}"})(scope, receive, send)
        return
    a, b = rng
    h = {"content-type": "application/octet-stream", "accept-ranges": "bytes", "content-length": str(b - a + 1),
         "content-range": f"bytes {a}-{b}/{total}", **_cf_headers(sim)}
    await _send_body(sim, scope, receive, send, 206, h, f.xorb_read(x, a, b + 1), _applies(sim, "transfer"),
                     "transfer")
