"""Huawei's own SDK core, unchanged, against a running ``smsgate serve``.

The SDK signs with AK/SK exactly as it does against Huawei Cloud; these tests are what "your
existing SMN client code works unchanged" means.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.client import Client, ClientBuilder
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_response import SdkResponse

from smsgate.auth.sdk_hmac import sign_request
from tests.conftest import UNSUB
from tests.live import LiveServer, live_server, smsgate

pytestmark = pytest.mark.slow  # starts smsgate processes


class _Model:
    """The shape of the SDK's generated models: ``openapi_types`` and ``attribute_map``."""

    openapi_types: dict[str, str] = {}

    def __init_subclass__(cls) -> None:
        cls.attribute_map = {name: name for name in cls.openapi_types}

    def __init__(self, **values: object) -> None:
        super().__init__()
        for name in self.openapi_types:
            setattr(self, name, values.get(name))


class CommitResult(_Model):
    openapi_types = {k: "str" for k in ("endpoint", "message_id", "code", "message", "sensitive_word")}


class PromotionResponse(_Model, SdkResponse):
    openapi_types = {"request_id": "str", "result": "list[CommitResult]"}


class SignItem(_Model):
    openapi_types = {"sign_id": "str", "sign_name": "str", "sign_type": "int", "status": "int",
                     "reply": "str", "create_time": "str"}


class ListSignsResponse(_Model, SdkResponse):
    openapi_types = {"request_id": "str", "sms_sign_count": "int", "sms_signs": "list[SignItem]"}


class CreateTemplateResponse(_Model, SdkResponse):
    openapi_types = {"request_id": "str", "sms_template_id": "str"}


class TemplateItem(_Model):
    openapi_types = {"sms_template_id": "str", "sms_template_name": "str", "sms_template_type": "int",
                     "sms_template_content": "str", "status": "int", "reply": "str", "create_time": "str"}


class ListTemplatesResponse(_Model, SdkResponse):
    openapi_types = {"request_id": "str", "sms_template_count": "int", "sms_templates": "list[TemplateItem]"}


class RequestIdResponse(_Model, SdkResponse):
    openapi_types = {"request_id": "str"}


class SmnClient(Client):
    def __init__(self) -> None:
        super().__init__()
        self.model_package = SimpleNamespace(
            CommitResult=CommitResult,
            PromotionResponse=PromotionResponse,
            SignItem=SignItem,
            ListSignsResponse=ListSignsResponse,
            CreateTemplateResponse=CreateTemplateResponse,
            TemplateItem=TemplateItem,
            ListTemplatesResponse=ListTemplatesResponse,
            RequestIdResponse=RequestIdResponse,
        )

    def call(self, method: str, path: str, response_type: str, body: dict | None = None,
             query: list | None = None, path_params: dict | None = None):
        """Any call of the family, as the SDK's generated clients make them."""
        return self.do_http_request(
            method=method, resource_path=path, path_params=path_params or {},
            query_params=query or [], body=body, response_type=response_type,
            header_params={"Content-Type": "application/json;charset=UTF-8"},
        )

    def promotion(self, items: list[dict], headers: dict[str, str] | None = None) -> PromotionResponse:
        return self.do_http_request(
            method="POST",
            resource_path="/v2/{project_id}/notifications/sms/promotion",
            header_params={"Content-Type": "application/json;charset=UTF-8", **(headers or {})},
            body={"sms_message": items},
            response_type="PromotionResponse",
        )

    def list_signs(self, headers: dict[str, str] | None = None) -> ListSignsResponse:
        return self.do_http_request(
            method="GET",
            resource_path="/v2/{project_id}/notifications/sms_sign",
            header_params=dict(headers or {}),
            response_type="ListSignsResponse",
        )


def sdk_client(server: LiveServer, secret_key: str | None = None) -> SmnClient:
    credentials = BasicCredentials(server.access_key, secret_key or server.secret_key, server.project_id)
    return ClientBuilder(SmnClient).with_credentials(credentials).with_endpoints([server.url]).build()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = live_server(tmp_path_factory.mktemp("live") / "data")
    yield live
    live.stop()


def test_sdk_sends_a_promotional_batch(server: LiveServer) -> None:
    items = [
        {"endpoint": "86159000" + f"{i:05d}"[-5:], "message": f"会员日满减{i}元{UNSUB}",
         "sign_id": server.sign_id, "message_include_sign_flag": "false"}
        for i in range(20)
    ]
    items.append({"endpoint": "+8615900000001", "message": f"【阿克米】会员日{UNSUB}",
                  "message_include_sign_flag": "true"})
    items.append({"endpoint": "86159****9348", "message": f"会员日{UNSUB}", "sign_id": server.sign_id})
    response = sdk_client(server).promotion(items)
    assert response.status_code == 200
    assert len(response.request_id) == 32
    assert [r.endpoint for r in response.result] == [i["endpoint"] for i in items]
    assert all(len(r.message_id) == 32 and r.code is None for r in response.result[:21])
    assert response.result[21].code == "SMN.0012"


def test_sdk_lists_signatures(server: LiveServer) -> None:
    response = sdk_client(server).list_signs()
    assert response.sms_sign_count == 1
    [sign] = response.sms_signs
    assert (sign.sign_id, sign.sign_name, sign.sign_type, sign.status) == (server.sign_id, "阿克米", 1, 3)


def test_wrong_secret_key_is_a_401_client_request_exception(server: LiveServer) -> None:
    with pytest.raises(ClientRequestException) as caught:
        sdk_client(server, secret_key="not-the-secret").promotion(
            [{"endpoint": "13800138000", "message": f"会员日{UNSUB}", "sign_id": server.sign_id}]
        )
    assert caught.value.status_code == 401
    assert caught.value.error_code == "APIGW.0301"
    assert len(caught.value.request_id) == 32


def _sdk_date(seconds_ago: int) -> dict[str, str]:
    """An X-Sdk-Date the SDK signs with instead of the current time: the SDK then sends the very
    same signed request again, as someone replaying it would."""
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {"X-Sdk-Date": when.strftime("%Y%m%dT%H%M%SZ")}


def test_sdk_request_replayed_gets_the_first_answer_and_sends_nothing_twice(server: LiveServer) -> None:
    items = [{"endpoint": f"8615911{i:06d}", "message": f"会员日{i}{UNSUB}", "sign_id": server.sign_id}
             for i in range(5)]
    date = _sdk_date(30)
    first = sdk_client(server).promotion(items, headers=date)
    again = sdk_client(server).promotion(items, headers=date)
    assert [r.message_id for r in again.result] == [r.message_id for r in first.result]
    assert again.request_id == first.request_id
    assert all(r.message_id for r in first.result)
    report = f"{server.url}/v2/{server.project_id}/notifications/sms/report"
    token = _token(server)
    for item in items:  # each number got one message, not two
        sent = httpx.get(report, params={"mobile": item["endpoint"]}, headers={"X-Auth-Token": token})
        assert sent.json()["count"] == 1


def test_sdk_request_of_another_kind_replayed_is_a_401(server: LiveServer) -> None:
    date = _sdk_date(20)
    assert sdk_client(server).list_signs(headers=date).sms_sign_count == 1
    with pytest.raises(ClientRequestException) as caught:
        sdk_client(server).list_signs(headers=date)
    assert (caught.value.status_code, caught.value.error_code) == (401, "APIGW.0301")


def _token(server: LiveServer) -> str:
    url = f"{server.url}/v3/auth/tokens"
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request("POST", url, headers, b"", server.access_key, server.secret_key,
                                date=datetime.now(UTC) - timedelta(seconds=40)))
    r = httpx.post(url, headers=headers, content=b"")
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def test_token_from_v3_auth_tokens_works_for_the_headline_call(server: LiveServer) -> None:
    url = f"{server.url}/v3/auth/tokens"
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request("POST", url, headers, b"", server.access_key, server.secret_key))
    r = httpx.post(url, headers=headers, content=b"")
    assert r.status_code == 201
    token = r.headers["X-Subject-Token"]
    assert r.json()["token"]["project"]["id"] == server.project_id
    r = httpx.post(
        f"{server.url}/v2/{server.project_id}/notifications/sms/promotion",
        headers={"X-Auth-Token": token},
        json={"sms_message": [{"endpoint": "13800138009", "message": f"会员日{UNSUB}", "sign_id": server.sign_id}]},
    )
    assert r.status_code == 200 and "message_id" in r.json()["result"][0]


def test_admin_commands_work_while_the_server_runs(server: LiveServer) -> None:
    smsgate("admin", "words", "add", server.project_id, "秘密词", data_dir=server.data_dir)
    response = sdk_client(server).promotion(
        [{"endpoint": "13800138010", "message": f"秘 密 词{UNSUB}", "sign_id": server.sign_id}]
    )
    assert response.result[0].code == "SMN.0227" and response.result[0].sensitive_word == "秘密词"


def test_admin_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    result = smsgate("admin", "sign", "create", "no-such-project", "阿克米", data_dir=tmp_path, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "SMN.0001" in result.stderr
    result = smsgate("admin", "project", "set", "x", "--send-window", "8-20", data_dir=tmp_path, check=False)
    assert result.returncode != 0 and "send window" in result.stderr


def test_sdk_creates_lists_uses_and_deletes_a_template_the_operator_approved(server: LiveServer) -> None:
    client = sdk_client(server)
    templates = "/v2/{project_id}/notifications/sms_template"
    created = client.call("POST", templates, "CreateTemplateResponse", body={
        "sms_template_name": "会员日", "sms_template_type": 1,
        "sms_template_content": f"会员日全场五折{UNSUB}", "remark": "SDK"})
    assert created.status_code == 201 and len(created.sms_template_id) == 32
    tid = created.sms_template_id
    listed = client.call("GET", templates, "ListTemplatesResponse", query=[("status", "0")])
    assert [(t.sms_template_id, t.status) for t in listed.sms_templates] == [(tid, 0)]
    with pytest.raises(ClientRequestException) as caught:  # not reviewed yet
        client.call("POST", "/v2/{project_id}/notifications/sms/promotion", "PromotionResponse",
                    body={"sms_template_id": tid, "sign_id": server.sign_id, "endpoints": ["13800138020"]})
    assert (caught.value.status_code, caught.value.error_code) == (400, "SMN.0163")

    smsgate("admin", "template", "approve", server.project_id, tid, data_dir=server.data_dir)
    sent = client.call("POST", "/v2/{project_id}/notifications/sms/promotion", "PromotionResponse",
                       body={"sms_template_id": tid, "sign_id": server.sign_id,
                             "endpoints": ["13800138020", "13800138021", "12345"]})
    assert [r.code for r in sent.result] == [None, None, "SMN.0012"]
    assert all(len(r.message_id) == 32 for r in sent.result[:2])

    deleted = client.call("DELETE", templates + "/{sms_template_id}", "RequestIdResponse",
                          path_params={"sms_template_id": tid})
    assert deleted.status_code == 200 and len(deleted.request_id) == 32
    assert client.call("GET", templates, "ListTemplatesResponse").sms_template_count == 0
    with pytest.raises(ClientRequestException) as caught:
        client.call("POST", "/v2/{project_id}/notifications/sms/promotion", "PromotionResponse",
                    body={"sms_template_id": tid, "sign_id": server.sign_id, "endpoints": ["13800138022"]})
    assert (caught.value.status_code, caught.value.error_code) == (404, "SMN.0162")
