#!/usr/bin/env python3
"""Capture requests signed by botocore (the library behind the AWS CLI).

Run by hand from the sigv4 directory:

    python3 testdata/gen_botocore.py

It starts a local HTTP and HTTPS listener, points real botocore clients at it
with a fixed clock and fixed credentials, and records the exact bytes each
request put on the wire into testdata/botocore/<name>.http. The manifest
testdata/botocore/cases.json says, for each file, which credentials and
signing time produced it and what the decoded body was, so the Go tests can
verify the requests with an implementation that shares no code with the
signer. `go test` only reads these files; it never runs this script.
"""

import datetime
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.httpchecksum
import botocore.httpsession
import botocore.session
from botocore.config import Config

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "botocore")

ACCESS_KEY = "AKIAOPENTRAILEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYOPENTRAIL"
SESSION_ACCESS_KEY = "ASIAOPENTRAILSESSION"
SESSION_SECRET = "session/secret+KEY/opentrailEXAMPLE0000"
SESSION_TOKEN = (
    "FwoGZXIvYXdzEOPENTRAIL//////////wEaDExampleSessionToken+with/slashes=="
)
SIGNING_TIME = datetime.datetime(2024, 3, 9, 21, 45, 7)

# botocore reads the clock through this name when it signs.
botocore.auth.get_current_datetime = lambda remove_tzinfo=True: SIGNING_TIME


class Capture:
    """A listener that records each raw request and answers a canned reply."""

    def __init__(self, tls_context=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.tls = tls_context
        self.requests = []
        self.reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            conn, _ = self.sock.accept()
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                self.requests.append(self._read(conn))
                conn.sendall(self.reply)
            except Exception as exc:  # keep serving the next client
                print("capture:", exc, file=sys.stderr)
            finally:
                conn.close()

    def _read(self, conn):
        f = conn.makefile("rb")
        raw = b""
        while True:
            line = f.readline()
            if not line:
                raise EOFError("connection closed in headers")
            raw += line
            if line == b"\r\n":
                break
        head = raw.decode("latin-1").lower()
        if "expect: 100-continue" in head:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        length = 0
        chunked = False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name == "content-length":
                length = int(value.strip())
            if name == "transfer-encoding" and "chunked" in value:
                chunked = True
        if not chunked:
            return raw + f.read(length)
        while True:
            size_line = f.readline()
            raw += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                break
            raw += f.read(size + 2)
        while True:
            line = f.readline()
            raw += line
            if line in (b"\r\n", b""):
                return raw

    def url(self):
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"


def tls_context(tmp):
    cert = os.path.join(tmp, "cert.pem")
    key = os.path.join(tmp, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class Recorder:
    def __init__(self, plain, tls):
        self.plain = plain
        self.tls = tls
        self.cases = []
        self.session = botocore.session.get_session()

    def client(self, service, capture, region="us-east-1", token=False, **config):
        cfg = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            s3={"addressing_style": "path"},
            **config,
        )
        return self.session.create_client(
            service,
            region_name=region,
            endpoint_url=capture.url(),
            verify=False,
            aws_access_key_id=SESSION_ACCESS_KEY if token else ACCESS_KEY,
            aws_secret_access_key=SESSION_SECRET if token else SECRET,
            aws_session_token=SESSION_TOKEN if token else None,
            config=cfg,
        )

    def record(self, name, capture, call, *, service, region="us-east-1",
               token=False, body=None, presigned=False, expires=0, trailer=None,
               note=""):
        before = len(capture.requests)
        try:
            call()
        except Exception as exc:  # the canned reply may not parse; the request is what matters
            if len(capture.requests) == before:
                raise
            print(f"{name}: reply not parsed ({type(exc).__name__})", file=sys.stderr)
        if len(capture.requests) != before + 1:
            raise RuntimeError(f"{name}: captured {len(capture.requests) - before} requests")
        raw = capture.requests[-1]
        if body is None:
            # botocore serialised the body itself: take it from the wire.
            body = raw.partition(b"\r\n\r\n")[2]
        with open(os.path.join(OUT, name + ".http"), "wb") as f:
            f.write(raw)
        self.cases.append({
            "name": name,
            "note": note,
            "access_key": SESSION_ACCESS_KEY if token else ACCESS_KEY,
            "secret": SESSION_SECRET if token else SECRET,
            "session_token": SESSION_TOKEN if token else "",
            "service": service,
            "region": region,
            "time": SIGNING_TIME.strftime("%Y%m%dT%H%M%SZ"),
            "presigned": presigned,
            "expires": expires,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_length": len(body),
            "trailer": trailer or {},
        })


def sign_raw(method, url, service, region, headers=None, body=b"", auth=botocore.auth.SigV4Auth):
    """Sign a hand-built request with SigV4Auth and send it as botocore would."""
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET)
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body,
                                         headers=headers or {})
    auth(creds, service, region).add_auth(req)
    prepared = req.prepare()
    botocore.httpsession.URLLib3Session(verify=False).send(prepared)


class SignAllHeaders(botocore.auth.SigV4Auth):
    """SigV4Auth that also signs the headers botocore normally leaves out
    (User-Agent, X-Amzn-Trace-Id, ...), as some other clients do."""

    def headers_to_sign(self, request):
        header_map = botocore.awsrequest.HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() != "authorization":
                header_map[name.lower()] = value
        if "host" not in header_map:
            header_map["host"] = botocore.auth._host_from_url(request.url)
        return header_map


def fetch(url, headers=None):
    req = botocore.awsrequest.AWSRequest(method="GET", url=url, headers=headers or {})
    botocore.httpsession.URLLib3Session(verify=False).send(req.prepare())


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    tmp = tempfile.mkdtemp()
    plain = Capture()
    tls = Capture(tls_context(tmp))
    r = Recorder(plain, tls)

    ct = r.client("cloudtrail", plain)
    r.record("cloudtrail-describe-trails", plain,
             lambda: ct.describe_trails(trailNameList=["management-events"]),
             service="cloudtrail",
             note="awsJson1_1 POST / with X-Amz-Target")

    cts = r.client("cloudtrail", plain, region="eu-west-3", token=True)
    lookup = {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateTrail"}],
              "MaxResults": 5}
    r.record("cloudtrail-lookup-events-session-token", plain,
             lambda: cts.lookup_events(**lookup), service="cloudtrail", region="eu-west-3",
             token=True,
             note="temporary credentials: X-Amz-Security-Token is signed")

    ctd = r.client("cloudtrail-data", plain)
    channel = "arn:aws:cloudtrail:us-east-1:123456789012:channel/01234567-89ab-cdef-0123-456789abcdef"
    events = [{"id": "one", "eventData": '{"version":"1.0","userIdentity":{"type":"x","principalId":"p"},"eventName":"ü"}'}]
    r.record("cloudtrail-data-put-audit-events", plain,
             lambda: ctd.put_audit_events(channelArn=channel, externalId="ext:id/1",
                                          auditEvents=events),
             service="cloudtrail-data",
             note="restJson1 POST with channelArn and externalId in the query")

    logs = r.client("logs", plain, region="ap-southeast-2")
    r.record("logs-put-log-events", plain,
             lambda: logs.put_log_events(logGroupName="/aws/opentrail", logStreamName="s 1",
                                         logEvents=[{"timestamp": 1709999999000, "message": "héllo\tworld"}]),
             service="logs", region="ap-southeast-2", note="awsJson1_1 for CloudWatch Logs")

    kms = r.client("kms", plain)
    r.record("kms-encrypt", plain,
             lambda: kms.encrypt(KeyId="alias/opentrail", Plaintext=b"\x00\x01secret"),
             service="kms", note="awsJson1_1 for KMS")

    sts = r.client("sts", plain, token=True)
    r.record("sts-get-caller-identity-session-token", plain,
             lambda: sts.get_caller_identity(), service="sts", token=True,
             note="awsQuery form POST with temporary credentials")

    sns = r.client("sns", plain, region="us-west-2")
    r.record("sns-publish", plain,
             lambda: sns.publish(TopicArn="arn:aws:sns:us-west-2:123456789012:trail-topic",
                                 Message="new log file: a b+c&d=é", Subject="opentrail"),
             service="sns", region="us-west-2", note="awsQuery form POST with escaped values")

    iam = r.client("iam", plain)
    r.record("iam-list-users", plain, lambda: iam.list_users(PathPrefix="/ops/", MaxItems=10),
             service="iam", note="global service signed for us-east-1")

    s3 = r.client("s3", plain, signature_version="s3v4")
    key = "logs/a b+c%d=e&f/é€/x?.json.gz"
    data = b"object body \x00\xff with bytes\n" * 7
    r.record("s3-put-object-odd-key", plain,
             lambda: s3.put_object(Bucket="trail-bucket", Key=key, Body=data,
                                   ContentType="application/octet-stream",
                                   Metadata={"origin": "opentrail  test"}),
             service="s3", body=data,
             note="S3 over plain HTTP: x-amz-content-sha256 is the hex hash of the body; key with space, +, %, =, &, unicode, ?")

    r.record("s3-get-object-odd-key", plain,
             lambda: s3.get_object(Bucket="trail-bucket", Key=key, Range="bytes=0-9"),
             service="s3", note="S3 GET with a Range header and an odd key")

    r.record("s3-list-objects-v2", plain,
             lambda: s3.list_objects_v2(Bucket="trail-bucket", Prefix="AWSLogs/1234/a b/",
                                        Delimiter="/", StartAfter="", MaxKeys=100),
             service="s3", note="S3 query string with an empty value and escaped values")

    slash_key = "dir%2Fencoded/../x y"
    r.record("s3-get-object-dot-segments", plain,
             lambda: s3.get_object(Bucket="trail-bucket", Key=slash_key),
             service="s3", note="S3 keys are not normalised: %2F, .. and spaces stay as sent")

    s3tls = r.client("s3", tls, signature_version="s3v4")
    big = bytes(range(256)) * 160
    c = botocore.httpchecksum.Crc32Checksum()
    c.update(big)
    # Smaller chunks than botocore's 1 MiB default, so a small body spans several.
    botocore.httpchecksum.AwsChunkedWrapper._DEFAULT_CHUNK_SIZE = 16384
    r.record("s3-put-object-aws-chunked-trailer", tls,
             lambda: s3tls.put_object(Bucket="trail-bucket", Key="chunked/obj.bin", Body=big),
             service="s3", body=big, trailer={"x-amz-checksum-crc32": c.b64digest()},
             note="S3 over HTTPS: aws-chunked body, STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer")

    url = s3.generate_presigned_url("get_object", Params={"Bucket": "trail-bucket", "Key": key},
                                    ExpiresIn=900)
    r.record("s3-presigned-get", plain, lambda: fetch(url), service="s3", presigned=True,
             expires=900, note="S3SigV4QueryAuth presigned GET, odd key")

    sts_url = sts.generate_presigned_url("get_caller_identity", HttpMethod="GET", ExpiresIn=60)
    r.record("sts-presigned-get-session-token", plain, lambda: fetch(sts_url), service="sts",
             token=True, presigned=True, expires=60,
             note="SigV4QueryAuth presigned GET with X-Amz-Security-Token in the query")

    r.record("raw-repeated-query", plain,
             lambda: sign_raw("GET", plain.url() + "/v1/things/a%20b?b=2&a=1&a=0&empty=&flag&z=%2F&tilde=~x",
                              "execute-api", "us-east-1",
                              headers={"X-Custom": "  spaced   value  "}),
             service="execute-api",
             note="SigV4Auth on a hand-built URL: repeated, empty and bare query keys; header with runs of spaces")

    r.record("raw-s3-encoded-slash", plain,
             lambda: sign_raw("GET", plain.url() + "/trail-bucket/a%2Fb/%7Etilde/sp%20ace?tagging",
                              "s3", "us-east-1", auth=botocore.auth.S3SigV4Auth),
             service="s3",
             note="S3SigV4Auth on a path with %2F and %7E: S3 signs the path exactly as sent")

    r.record("raw-dot-segments", plain,
             lambda: sign_raw("GET", plain.url() + "/v1//things/./a%20b/../c?x=1", "execute-api", "us-east-1"),
             service="execute-api",
             note="SigV4Auth signs other services' paths with dot and empty segments removed, and sends them as written")

    r.record("raw-date-header", plain,
             lambda: sign_raw("POST", plain.url() + "/", "sns", "us-east-1",
                              headers={"Date": "placeholder", "Content-Type": "application/x-www-form-urlencoded"},
                              body=b"Action=ListTopics&Version=2010-03-31"),
             service="sns",
             note="SigV4Auth with a Date header instead of X-Amz-Date (botocore writes it with a -0000 zone)")

    r.record("raw-signed-user-agent", plain,
             lambda: sign_raw("POST", plain.url() + "/", "cloudtrail", "us-east-1",
                              headers={"User-Agent": "opentrail-client/1.0 (test)",
                                       "X-Amzn-Trace-Id": "Root=1-65ecd8e3-0123456789abcdef01234567",
                                       "Content-Type": "application/x-amz-json-1.1",
                                       "X-Amz-Target": "CloudTrail_20131101.ListTrails"},
                              body=b"{}", auth=SignAllHeaders),
             service="cloudtrail",
             note="a client that signs User-Agent and X-Amzn-Trace-Id, which the AWS SDKs never sign")

    r.record("raw-signed-content-length-zero", plain,
             lambda: sign_raw("POST", plain.url() + "/", "sns", "us-east-1",
                              headers={"Content-Length": "0", "X-Amz-Target": "x"}, body=b"",
                              auth=SignAllHeaders),
             service="sns",
             note="content-length: 0 signed, which the AWS SDK for Go never signs")

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"botocore": botocore.__version__, "cases": r.cases}, f, indent=2,
                  ensure_ascii=False)
        f.write("\n")
    shutil.rmtree(tmp)
    print(f"wrote {len(r.cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
