#!/usr/bin/env python3
"""Pushes COUNT distinct tiny OCI images to a plain-HTTP registry on 127.0.0.1, fast.

Usage: push_images.py HOST:PORT COUNT REPOS OUT_FILE

Image i goes to `bench/app-<i % REPOS>:v<i>`; each has its own uncompressed tar layer and
config, so all COUNT manifests are distinct. Writes the references (`HOST:PORT/bench/...`),
one per line, to OUT_FILE. Same protocol as tests/it/common/mod.rs `push_generated_many`:
monolithic blob uploads (POST, then PUT with the digest), then PUT of the manifest, over
a few keep-alive connections in parallel.
"""

import concurrent.futures
import hashlib
import http.client
import io
import json
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(content: str) -> bytes:
    data = (content + "\n").encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("content.txt")
        info.size = len(data)
        info.mtime = 1704067200
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Client:
    def __init__(self, host: str):
        self.conn = http.client.HTTPConnection(host, timeout=30)

    def request(self, method, path, body=b"", headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        response.read()
        return response

    def upload_blob(self, repo: str, data: bytes) -> str:
        d = digest(data)
        started = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        if started.status != 202:
            sys.exit(f"start upload to {repo}: HTTP {started.status}")
        location = started.getheader("Location")
        path = location[location.index("/v2/"):]
        sep = "&" if "?" in path else "?"
        done = self.request("PUT", f"{path}{sep}digest={d}", body=data,
                            headers={"Content-Type": "application/octet-stream"})
        if done.status != 201:
            sys.exit(f"upload {d} to {repo}: HTTP {done.status}")
        return d

    def put_manifest(self, repo: str, tag: str, body: bytes):
        done = self.request("PUT", f"/v2/{repo}/manifests/{tag}", body=body,
                            headers={"Content-Type": OCI_MANIFEST})
        if done.status != 201:
            sys.exit(f"put manifest {repo}:{tag}: HTTP {done.status}")


def push(host: str, indices, repos: int):
    client = Client(host)
    for i in indices:
        repo, tag = f"bench/app-{i % repos}", f"v{i}"
        tar = layer(f"{repo}:{tag}")
        config = json.dumps({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [digest(tar)]},
        }, separators=(",", ":")).encode()
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digest(tar), "size": len(tar)}],
        }, separators=(",", ":")).encode()
        client.upload_blob(repo, tar)
        client.upload_blob(repo, config)
        client.put_manifest(repo, tag, manifest)


def main():
    host, count, repos, out_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    workers = 4
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        jobs = [pool.submit(push, host, range(w, count, workers), repos) for w in range(workers)]
        for job in jobs:
            job.result()
    refs = [f"{host}/bench/app-{i % repos}:v{i}" for i in range(count)]
    with open(out_file, "w") as f:
        f.write("\n".join(refs) + "\n")


if __name__ == "__main__":
    main()
