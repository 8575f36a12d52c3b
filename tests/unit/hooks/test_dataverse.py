"""DataverseHook: paging, CRUD and upserts, and multipart $batch building, parsing and per-operation retries."""

from __future__ import annotations

import email
import email.policy
import re
import uuid

import pytest

from include.bc_sales_sync.hooks import (
    BatchOperation,
    BatchResult,
    DataverseHook,
    NotFound,
    PreconditionFailed,
    RateLimited,
)
from include.bc_sales_sync.hooks.batch import parse_batch_response
from tests.unit.hooks.conftest import DATAVERSE_HOST, Call, Reply, dropped

API = f"{DATAVERSE_HOST}/api/data/v9.2"
GUIDS = [str(uuid.UUID(int=i + 1)) for i in range(3000)]


@pytest.fixture
def hook(connect):
    return connect(DataverseHook, DATAVERSE_HOST)


# ---------------------------------------------------------------------- a tiny $batch server


def parse_request(call: Call) -> list[dict]:
    """The operations of a $batch request body, as a server would read them."""
    content_type = call.headers["Content-Type"]
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + call.body, policy=email.policy.compat32
    )
    operations = []
    for part in _leaves(message):
        raw = part.get_payload(decode=True)
        head, _, body = raw.partition(b"\r\n\r\n")
        request_line, *header_lines = head.decode().split("\r\n")
        method, url, version = request_line.split(" ")
        operations.append(
            {
                "method": method,
                "url": url,
                "version": version,
                "headers": dict(line.split(": ", 1) for line in header_lines),
                "body": body.rstrip(b"\r\n"),
                "content_id": part.get("Content-ID"),
                "part_headers": dict(part.items()),
            }
        )
    return operations


def _leaves(message):
    for part in message.get_payload():
        if part.is_multipart():
            yield from _leaves(part)
        else:
            yield part


def batch_response(parts: list[tuple[int, dict, str]], *, change_set: bool = False) -> Reply:
    """A multipart $batch response: (status, headers, body) per operation."""
    boundary = "batchresponse_4d8a1e2c"
    inner = "changesetresponse_9f3b"
    chunks = []
    for index, (status, headers, body) in enumerate(parts, 1):
        head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        if change_set:
            head += f"Content-ID: {index}\r\n"
        lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}"]
        if body:
            headers = {"Content-Type": "application/json; odata.metadata=minimal", **headers}
        lines += [f"{k}: {v}" for k, v in headers.items()]
        chunks.append(head + "\r\n" + "\r\n".join(lines) + "\r\n\r\n" + body + "\r\n")
    if change_set:
        payload = f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n"
        payload += "".join(f"--{inner}\r\n{c}" for c in chunks) + f"--{inner}--\r\n"
    else:
        payload = "".join(f"--{boundary}\r\n{c}" for c in chunks)
    payload += f"--{boundary}--\r\n"
    return Reply(200, body=payload.encode(), headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})


def upserted(guid: str) -> tuple[int, dict, str]:
    return 204, {"OData-EntityId": f"{API}/accounts({guid})"}, ""


def failed(code: str, message: str, status: int = 400, headers: dict | None = None) -> tuple[int, dict, str]:
    return status, headers or {}, f'{{"error":{{"code":"{code}","message":"{message}"}}}}'


def echo_server(fail: dict[int, tuple[int, dict, str]] | None = None):
    """A $batch handler answering every operation 204, except those (by position) in ``fail``."""

    def handle(call: Call) -> Reply:
        ops = parse_request(call)
        parts = []
        for index, op in enumerate(ops):
            guid = re.search(r"\(([^()]*)\)$", op["url"]).group(1)
            parts.append((fail or {}).get(index) or upserted(guid))
        return batch_response(parts)

    return handle


def upsert(guid: str, **body) -> BatchOperation:
    return BatchOperation("PATCH", entity_set="accounts", key=guid, body=body or {"name": f"Account {guid[-4:]}"})


# ---------------------------------------------------------------------- building


def test_batch_body_is_a_well_formed_multipart_request(hook, fake):
    fake.route("POST", r"/\$batch$", echo_server())
    operations = [
        upsert(GUIDS[0], name="Müller & Söhne 😀"),
        BatchOperation("PATCH", url="accounts(accountnumber='A-1')", body={"name": "B"}, headers={"If-Match": "*"}),
        BatchOperation("DELETE", entity_set="accounts", key=GUIDS[2]),
    ]

    hook.batch(operations)

    call = fake.api_calls[0]
    assert call.url == f"{API}/$batch"
    assert call.headers["Prefer"] == "odata.continue-on-error"
    assert re.fullmatch(r"multipart/mixed; boundary=batch_[0-9a-f-]{36}", call.headers["Content-Type"])
    boundary = call.headers["Content-Type"].split("boundary=")[1]
    assert call.body.startswith(f"--{boundary}\r\n".encode())
    assert call.body.endswith(f"--{boundary}--\r\n".encode())
    assert b"\n" not in call.body.replace(b"\r\n", b""), "line ends must be CRLF"
    parsed = parse_request(call)
    assert [(p["method"], p["url"]) for p in parsed] == [
        ("PATCH", f"{API}/accounts({GUIDS[0]})"),
        ("PATCH", f"{API}/accounts(accountnumber='A-1')"),
        ("DELETE", f"{API}/accounts({GUIDS[2]})"),
    ]
    assert all(p["version"] == "HTTP/1.1" for p in parsed)
    assert all(p["part_headers"]["Content-Type"] == "application/http" for p in parsed)
    assert all(p["part_headers"]["Content-Transfer-Encoding"] == "binary" for p in parsed)
    assert parsed[0]["headers"]["Content-Type"] == "application/json; type=entry"
    assert parsed[0]["body"].decode("utf-8") == '{"name":"Müller & Söhne 😀"}'
    assert parsed[1]["headers"]["If-Match"] == "*"
    assert parsed[2]["body"] == b"" and "Content-Type" not in parsed[2]["headers"]


def test_change_set_wraps_the_operations_with_content_ids(hook):
    body = hook.build_batch_body(
        [upsert(GUIDS[0]), BatchOperation("POST", entity_set="contacts", body={"x": 1}, content_id="c2")],
        "batch_x",
        change_set=True,
    )
    call = Call("POST", f"{API}/$batch", {"Content-Type": "multipart/mixed; boundary=batch_x"}, body, True)
    message = email.message_from_bytes(b"Content-Type: multipart/mixed; boundary=batch_x\r\n\r\n" + body)
    (change_set,) = message.get_payload()
    assert change_set.get_content_type() == "multipart/mixed"
    assert change_set.get_boundary().startswith("changeset_")
    assert [p["content_id"] for p in parse_request(call)] == ["1", "c2"]


def test_a_header_with_a_line_break_is_refused(hook):
    with pytest.raises(ValueError, match="line break"):
        hook.build_batch_body([BatchOperation("PATCH", url="a(1)", headers={"X": "a\r\nInjected: 1"})], "b")


# ---------------------------------------------------------------------- parsing


def test_one_failure_among_successes(hook, fake):
    fake.route(
        "POST",
        r"/\$batch$",
        echo_server({1: failed("0x80044331", "A validation error occurred. The length of 'name' exceeds 160.")}),
    )

    results = hook.batch([upsert(g) for g in GUIDS[:3]])

    assert [r.status for r in results] == [204, 400, 204]
    assert [r.ok for r in results] == [True, False, True]
    assert results[0].entity_id == GUIDS[0] and results[2].entity_id == GUIDS[2]
    assert results[1].error_code == "0x80044331"
    assert "length of 'name'" in results[1].error_message
    assert [r.operation.key for r in results] == GUIDS[:3]
    assert hook.request_count == 1


def test_parse_handles_bodies_with_non_ascii_and_change_sets():
    reply = batch_response(
        [(201, {"OData-EntityId": f"{API}/accounts({GUIDS[0]})"}, '{"name":"Zoë 😀","n":1}'), upserted(GUIDS[1])],
        change_set=True,
    )
    parts = parse_batch_response(reply.headers["Content-Type"], reply.body)
    assert [(p.status, p.content_id) for p in parts] == [(201, "1"), (204, "2")]
    assert parts[0].body == {"name": "Zoë 😀", "n": 1}
    assert parts[1].body is None


def test_without_continue_on_error_the_rest_is_reported_not_executed(hook, fake):
    stop = batch_response(
        [upserted(GUIDS[0]), failed("0x80040237", "A record with matching key values already exists.")]
    )
    stop.status = 400
    fake.route("POST", r"/\$batch$", stop)

    results = hook.batch([upsert(g) for g in GUIDS[:4]], continue_on_error=False)

    assert "Prefer" not in fake.api_calls[0].headers
    assert [r.status for r in results] == [204, 400, 424, 424]
    assert results[1].error_code == "0x80040237"
    assert "continue-on-error" in results[2].error_message


def test_failed_change_set_marks_every_operation(hook, fake):
    reply = batch_response([failed("0x80040265", "Plug-in said no.")])
    reply.status = 400
    fake.route("POST", r"/\$batch$", reply)

    results = hook.batch([upsert(g) for g in GUIDS[:3]], change_set=True)

    assert results[0].status == 400 and results[0].error_message == "Plug-in said no."
    assert [r.status for r in results[1:]] == [424, 424]
    assert "rolled back" in results[1].error_message and "Plug-in said no." in results[1].error_message


def test_a_non_multipart_error_raises_the_typed_error(hook, fake):
    fake.route("POST", r"/\$batch$", Reply(400, {"error": {"code": "0x8006088a", "message": "Malformed batch."}}))
    with pytest.raises(Exception, match="Malformed batch"):
        hook.batch([upsert(GUIDS[0])])


# ---------------------------------------------------------------------- chunks and retries


def test_operations_go_in_chunks_of_at_most_1000_taken_lazily(hook, fake):
    fake.route("POST", r"/\$batch$", echo_server())
    handed_out = []

    def operations():
        for guid in GUIDS[:2500]:
            handed_out.append(guid)
            yield upsert(guid)

    chunks = hook.iter_batch(operations())
    first = next(chunks)
    assert len(first) == 1000 and len(handed_out) == 1000, "the next chunk is not read before it is needed"
    rest = list(chunks)

    assert [len(c) for c in rest] == [1000, 500]
    assert [len(parse_request(c)) for c in fake.api_calls] == [1000, 1000, 500]
    assert hook.request_count == 3


def test_chunk_size_is_capped_at_1000(hook, fake):
    fake.route("POST", r"/\$batch$", echo_server())
    results = hook.batch([upsert(g) for g in GUIDS[:1500]], chunk_size=5000)
    assert len(results) == 1500 and all(r.ok for r in results)
    assert [len(parse_request(c)) for c in fake.api_calls] == [1000, 500]


def test_a_throttled_batch_is_sent_again_after_retry_after(hook, fake, clock):
    fake.route(
        "POST",
        r"/\$batch$",
        Reply(
            429,
            {"error": {"code": "0x80072322", "message": "Number of requests exceeded"}},
            headers={"Retry-After": "4"},
        ),
        echo_server(),
    )
    results = hook.batch([upsert(g) for g in GUIDS[:10]])
    assert all(r.ok for r in results)
    assert clock.waits == [4.0]
    assert hook.request_count == 2


def test_throttled_operations_are_sent_again_alone(hook, fake, clock):
    throttled = failed("0x80072321", "Combined execution time exceeded", 429, {"Retry-After": "3"})
    fake.route("POST", r"/\$batch$", echo_server({1: throttled, 3: throttled}), echo_server())

    results = hook.batch([upsert(g) for g in GUIDS[:5]])

    assert [r.status for r in results] == [204] * 5
    assert [r.entity_id for r in results] == GUIDS[:5]
    second = parse_request(fake.api_calls[1])
    assert [op["url"].rsplit("(", 1)[1][:-1] for op in second] == [GUIDS[1], GUIDS[3]]
    assert clock.waits == [3.0]
    assert hook.retry_count == 1


def test_operation_retries_are_bounded(connect, fake, clock):
    hook = connect(DataverseHook, DATAVERSE_HOST, max_attempts=3)
    throttled = failed("0x80072322", "Number of requests exceeded", 429, {"Retry-After": "2"})
    fake.route("POST", r"/\$batch$", echo_server({0: throttled}))

    results = hook.batch([upsert(g) for g in GUIDS[:2]])

    assert results[0].status == 429 and results[1].status == 204
    assert "gave up after 3 attempt(s)" in results[0].error_message
    assert len(fake.api_calls) == 3
    assert clock.waits == [2.0, 2.0]


def test_lasting_failures_are_not_sent_again(hook, fake):
    fake.route("POST", r"/\$batch$", echo_server({0: failed("0x80040217", "Does Not Exist", 404)}))
    results = hook.batch([upsert(g) for g in GUIDS[:2]])
    assert [r.status for r in results] == [404, 204]
    assert len(fake.api_calls) == 1


def test_a_batch_of_upserts_is_resent_after_a_dropped_connection_but_creates_are_not(hook, fake):
    fake.route("POST", r"/\$batch$", dropped(), echo_server())
    assert all(r.ok for r in hook.batch([upsert(g) for g in GUIDS[:3]]))
    assert len(fake.api_calls) == 2

    fake.route("POST", r"/\$batch$", dropped(), echo_server())
    with pytest.raises(Exception, match="no response"):
        hook.batch([BatchOperation("POST", entity_set="accounts", body={"name": "x"})])
    assert len(fake.api_calls) == 3


def test_batch_result_shape():
    result = BatchResult(upsert(GUIDS[0]), 204, entity_id=GUIDS[0])
    assert result.ok and result.error_code is None
    with pytest.raises(ValueError):
        BatchOperation("PATCH")


# ---------------------------------------------------------------------- reads and single writes


def test_iter_pages_follows_next_links_verbatim_with_the_same_prefer(hook, fake):
    link = f"{API}/accounts?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E"
    fake.route("GET", r"skiptoken", Reply(200, {"value": [{"name": "c"}]}))
    fake.route(
        "GET",
        r"/accounts\?\$select=name&\$filter",
        Reply(200, {"value": [{"name": "a"}, {"name": "b"}], "@odata.nextLink": link}),
    )

    pages = hook.iter_pages(
        "accounts",
        select=["name"],
        filter="modifiedon gt 2024-01-01T00:00:00Z",
        orderby="modifiedon asc",
        page_size=2,
        annotations=True,
    )
    assert next(pages) == [{"name": "a"}, {"name": "b"}]
    assert len(fake.api_calls) == 1, "the next page is only read when asked for"
    assert list(pages) == [[{"name": "c"}]]

    first, second = fake.api_calls
    assert first.url == (
        f"{API}/accounts?$select=name&$filter=modifiedon%20gt%202024-01-01T00:00:00Z&$orderby=modifiedon%20asc"
    )
    assert second.url == link
    for call in (first, second):
        assert call.headers["Prefer"] == 'odata.maxpagesize=2,odata.include-annotations="*"'


def test_get_and_not_found(hook, fake):
    fake.route("GET", rf"/accounts\({GUIDS[0]}\)\?\$select=name$", Reply(200, {"name": "A"}))
    assert hook.get("accounts", GUIDS[0], select=["name"]) == {"name": "A"}
    with pytest.raises(NotFound):
        hook.get("accounts", GUIDS[1])


def test_create_returns_the_id_from_odata_entityid(hook, fake):
    fake.route("POST", r"/accounts$", Reply(204, headers={"OData-EntityId": f"{API}/accounts({GUIDS[5]})"}))
    assert hook.create("accounts", {"name": "A"}) == GUIDS[5]
    assert fake.api_calls[0].json() == {"name": "A"}
    assert fake.api_calls[0].headers["Content-Type"].startswith("application/json")


def test_create_with_representation(hook, fake):
    fake.route("POST", r"/accounts$", Reply(201, {"accountid": GUIDS[5], "name": "A"}))
    assert hook.create("accounts", {"name": "A"}, return_representation=True) == {"accountid": GUIDS[5], "name": "A"}
    assert fake.api_calls[0].headers["Prefer"] == "return=representation"


def test_upsert_modes(hook, fake):
    fake.route("PATCH", r"/accounts\(", Reply(204, headers={"OData-EntityId": f"{API}/accounts({GUIDS[0]})"}))
    assert hook.upsert("accounts", GUIDS[0], {"name": "A"}) == GUIDS[0]
    hook.upsert("accounts", GUIDS[0], {"name": "A"}, create_only=True)
    hook.upsert("accounts", {"accountnumber": "A-1"}, {"name": "A"}, update_only=True)
    plain, create, update = fake.api_calls
    assert "If-Match" not in plain.headers and "If-None-Match" not in plain.headers
    assert create.headers["If-None-Match"] == "*"
    assert update.headers["If-Match"] == "*"
    assert update.url == f"{API}/accounts(accountnumber='A-1')"
    with pytest.raises(ValueError):
        hook.upsert("accounts", GUIDS[0], {}, create_only=True, update_only=True)


def test_create_only_upsert_of_an_existing_row(hook, fake):
    fake.route(
        "PATCH",
        r"/accounts\(",
        Reply(412, {"error": {"code": "0x80040237", "message": "A record with matching key values already exists."}}),
    )
    with pytest.raises(PreconditionFailed, match="already exists"):
        hook.upsert("accounts", GUIDS[0], {"name": "A"}, create_only=True)


def test_update_and_delete(hook, fake):
    fake.route("PATCH", r"/accounts\(", Reply(204))
    fake.route("DELETE", r"/accounts\(", Reply(204))
    hook.update("accounts", GUIDS[0], {"name": "B"}, etag='W/"123"')
    hook.delete("accounts", GUIDS[0])
    update, delete = fake.api_calls
    assert update.headers["If-Match"] == 'W/"123"'
    assert delete.method == "DELETE" and "If-Match" not in delete.headers


def test_who_am_i_and_test_connection(hook, fake):
    me = {"UserId": GUIDS[9], "BusinessUnitId": GUIDS[8], "OrganizationId": GUIDS[7]}
    fake.route("GET", r"/WhoAmI$", Reply(200, me))
    assert hook.who_am_i() == me
    ok, message = hook.test_connection()
    assert ok and GUIDS[9] in message


def test_test_connection_reports_a_failure(hook, fake):
    fake.route("GET", r"/WhoAmI$", Reply(429, headers={"Retry-After": "100000"}))
    ok, message = hook.test_connection()
    assert not ok and "HTTP 429" in message


def test_scope_defaults_to_the_organization_url(hook, fake):
    fake.route("GET", r"/WhoAmI$", Reply(200, {}))
    hook.who_am_i()
    assert "scope=https%3A%2F%2Forg.sandbox.test%2F.default" in fake.token_calls[0].body.decode()


def test_rate_limited_is_exposed(hook, fake):
    fake.route("GET", r"/WhoAmI$", Reply(429, headers={"Retry-After": "100000"}))
    with pytest.raises(RateLimited) as info:
        hook.who_am_i()
    assert info.value.retry_after == 100000
