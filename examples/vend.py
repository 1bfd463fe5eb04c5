"""Vend a token from the token vending service in Python, signing with botocore's SigV4.

    TVM_ENDPOINT=https://a1b2c3d4e5.execute-api.eu-north-1.amazonaws.com/live \
    AWS_REGION=eu-north-1 python3 examples/vend.py bcc-production persons.name#read

Credentials come from botocore's default chain (environment, profile, container or instance role).
"""
import json
import os
import sys
import urllib.error
import urllib.request

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


def vend(endpoint: str, provider: str, scope: str | None = None) -> dict:
    body = json.dumps({"scope": scope}) if scope else None
    request = AWSRequest(
        method="POST",
        url=f"{endpoint.rstrip('/')}/v1/tokens/{provider}",
        data=body,
        headers={"content-type": "application/json"} if body else {},
    )
    credentials = botocore.session.get_session().get_credentials()
    SigV4Auth(credentials, "execute-api", os.environ.get("AWS_REGION", "us-east-1")).add_auth(request)
    prepared = urllib.request.Request(
        request.url, data=body.encode() if body else None, headers=dict(request.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        # The service's error shape: {"error", "message", "request_id"}.
        failure = json.load(error)
        raise SystemExit(f"tvm: {failure['error']}: {failure['message']}")


if __name__ == "__main__":
    token = vend(os.environ["TVM_ENDPOINT"], sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(token["token_type"], token["expires_in"])
