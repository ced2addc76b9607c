#!/usr/bin/env python3
"""An MM7 VASP for the acceptance tests: 3GPP TS 23.140 MM7, SOAP 1.1 with attachments.

Written from the standard, independently of the relay's codec, so that what the relay writes
is checked by a second reading: every message is built and read with lxml (Python 3.11, lxml
and the standard library only), and each deviation from SOAP 1.1 / TS 23.140 that is found is
reported in an "errors" list instead of being tolerated silently.

Subcommands (each prints ONE JSON object on stdout):

  submit / cancel / replace   act as the VASP towards the relay: POST a SubmitReq, CancelReq
                              or ReplaceReq and print what came back, checked. Exit 0 whenever
                              the relay answered (whatever the MM7 status or HTTP status),
                              non-zero with a message on stderr when it could not be reached.
  serve                       act as the VASP's receiver: accept DeliverReq, DeliveryReportReq
                              and ReadReplyReq, append one JSON line per POST to --log (flushed
                              at once), answer with the matching Rsp. Prints {"listening": port}
                              when ready; --port 0 picks a free port. Runs until SIGTERM.
  selftest                    checks this script without the relay: runs a serve and posts to
                              it requests built here, in two namespaces.

How tests use it: spawn `vasp.py serve --port 0 --log FILE ...`, read the first stdout line for
the port, point the relay's VASP URL at http://127.0.0.1:PORT/, then read FILE line by line
(each line is one complete JSON object: poll until the expected number of lines is there). For
the relay's MM7 interface, run `vasp.py submit --url ... ` and parse its stdout. A correct
exchange has "errors": [].
"""

import argparse
import base64
import binascii
import datetime
import email.parser
import email.policy
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import uuid

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MM7_BASE = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
MM7_RELEASES = [f"REL-5-MM7-1-{n}" for n in range(4)] + [f"REL-6-MM7-1-{n}" for n in range(5)]
MM7_NAMESPACES = [MM7_BASE + r for r in MM7_RELEASES]

STATUS_TEXTS = {
    1000: "Success", 1100: "Partial success", 2000: "Client error",
    2001: "Operation restricted", 2002: "Address Error", 2003: "Address Not Found",
    2004: "Multimedia content refused", 2005: "Message ID Not found",
    2006: "LinkedID not found", 2007: "Message format corrupt", 3000: "Server Error",
    3001: "Not Possible", 3002: "Message rejected", 3003: "Multiple addresses not supported",
    4000: "General service error", 4001: "Improper identification",
    4002: "Unsupported version", 4003: "Unsupported operation", 4004: "Validation error",
    4005: "Service error", 4006: "Service unavailable", 4007: "Service denied",
}

# The children of each operation in the order of its XSD sequence (REL-5 and REL-6 elements
# together; every one of them optional here, the mandatory ones are in REQUIRED).
SEQUENCES = {
    "SubmitReq": [
        "MM7Version", "SenderIdentification", "Recipients", "PreferredChannels", "ServiceCode",
        "LinkedID", "MessageClass", "TimeStamp", "ReplyCharging", "EarliestDeliveryTime",
        "ExpiryDate", "DeliveryReport", "ReadReply", "Priority", "Subject", "ChargedParty",
        "ChargedPartyID", "DistributionIndicator", "DeliveryCondition", "ApplicID",
        "ReplyApplicID", "AuxApplicInfo", "ContentClass", "DRMContent", "Content"],
    "CancelReq": ["MM7Version", "SenderIdentification", "MessageID"],
    "ReplaceReq": [
        "MM7Version", "SenderIdentification", "MessageID", "ServiceCode", "TimeStamp",
        "ReadReply", "EarliestDeliveryTime", "DistributionIndicator", "ContentClass",
        "DRMContent", "Content"],
    "DeliverReq": [
        "MM7Version", "MMSRelayServerID", "VASPID", "VASID", "LinkedID", "Sender", "Recipients",
        "Previouslysentby", "PreviouslySentDateandTime", "SenderSPI", "RecipientSPI",
        "TimeStamp", "ReplyChargingID", "Priority", "Subject", "ApplicID", "ReplyApplicID",
        "AuxApplicInfo", "UACapabilities", "Content"],
    "DeliveryReportReq": [
        "MM7Version", "MMSRelayServerID", "MessageID", "Recipient", "Sender", "Date", "MMStatus",
        "MMStatusExtension", "StatusText", "ApplicID", "ReplyApplicID", "AuxApplicInfo",
        "UACapabilities"],
    "ReadReplyReq": [
        "MM7Version", "MMSRelayServerID", "MessageID", "Recipient", "Sender", "TimeStamp",
        "MMStatus", "StatusText", "ApplicID", "ReplyApplicID", "AuxApplicInfo"],
    "SubmitRsp": ["MM7Version", "Status", "MessageID"],
    "CancelRsp": ["MM7Version", "Status"],
    "ReplaceRsp": ["MM7Version", "Status"],
    "RSErrorRsp": ["MM7Version", "Status"],
    "VASPErrorRsp": ["MM7Version", "Status"],
    "DeliverRsp": ["MM7Version", "Status", "ServiceCode"],
    "DeliveryReportRsp": ["MM7Version", "Status"],
    "ReadReplyRsp": ["MM7Version", "Status"],
}
REQUIRED = {
    "DeliverReq": ["Sender"],
    "DeliveryReportReq": ["MessageID", "Recipient", "Sender", "Date", "MMStatus"],
    "ReadReplyReq": ["MessageID", "Recipient", "Sender", "TimeStamp", "MMStatus"],
}
RESPONSE_OF = {"DeliverReq": "DeliverRsp", "DeliveryReportReq": "DeliveryReportRsp",
               "ReadReplyReq": "ReadReplyRsp"}
MM_STATUS = {
    "DeliveryReportReq": {"Expired", "Retrieved", "Rejected", "Deferred", "Unrecognised",
                          "Indeterminate", "Forwarded"},
    "ReadReplyReq": {"Read", "Deleted", "Indeterminate"},
}
ADDRESS_KINDS = ("Number", "RFC2822Address", "ShortCode")
DATE_TIME = re.compile(r"-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
XSD_BOOLEANS = {"true", "false", "1", "0"}


# ---------------------------------------------------------------------------------------------
# Building messages

def namespace_uri(value):
    """An MM7 namespace from its short form (REL-6-MM7-1-4) or its full URI."""
    uri = value if value.startswith("http") else MM7_BASE + value
    if uri not in MM7_NAMESPACES:
        raise argparse.ArgumentTypeError(f"not an MM7 namespace: {value}")
    return uri


def address(value):
    """(kind, value) of an address: +digits a Number, with @ an RFC2822Address, digits a ShortCode."""
    if re.fullmatch(r"\+\d+", value):
        return ("Number", value)
    if "@" in value:
        return ("RFC2822Address", value)
    if value.isdigit():
        return ("ShortCode", value)
    raise argparse.ArgumentTypeError(f"not an address: {value}")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fill(ns, parent, spec):
    """Adds children from spec, a list of (name, value[, attributes]): a value that is a list
    is nested, a string is the text; a None value without attributes is left out."""
    for name, value, *attrs in spec:
        attrs = attrs[0] if attrs else {}
        if (value is None or value == []) and not attrs:
            continue
        el = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
        if isinstance(value, list):
            fill(ns, el, value)
        elif value is not None:
            el.text = value


def envelope(ns, transaction_id, operation, spec):
    """A SOAP envelope with the TransactionID header and one MM7 operation in the body."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"env": SOAP_ENV, "mm7": ns})
    header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    tid = etree.SubElement(header, f"{{{ns}}}TransactionID", {f"{{{SOAP_ENV}}}mustUnderstand": "1"})
    tid.text = transaction_id
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    fill(ns, body, [(operation, spec)])
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def recipients_spec(to, cc, bcc):
    return [(field, [address(a) for a in addrs]) for field, addrs in (("To", to), ("Cc", cc), ("Bcc", bcc))]


def sender_identification(args):
    sender = [address(args.sender)] if getattr(args, "sender", None) else None
    return [("VASPID", args.vasp_id), ("VASID", args.vas_id), ("SenderAddress", sender)]


def content_spec(args):
    if args.no_content:
        return None
    cid = "missing-content" if args.bad_cid else "mms-content"
    return ("Content", None, {"href": f"cid:{cid}", "allowAdaptations": "true"})


def flag(on):
    return "true" if on else None


def submit_spec(args):
    spec = [
        ("MM7Version", args.version),
        ("SenderIdentification", sender_identification(args)),
        ("Recipients", recipients_spec(args.to, args.cc, args.bcc)),
        ("ServiceCode", args.service_code), ("LinkedID", args.linked_id),
        ("MessageClass", args.message_class), ("TimeStamp", now_iso()),
        ("EarliestDeliveryTime", args.earliest), ("ExpiryDate", args.expiry),
        ("DeliveryReport", flag(args.delivery_report)), ("ReadReply", flag(args.read_reply)),
        ("Priority", args.priority), ("Subject", args.subject),
        ("DistributionIndicator", "false" if args.no_distribution else None),
    ]
    return spec + [c for c in [content_spec(args)] if c]


def cancel_spec(args):
    return [("MM7Version", args.version), ("SenderIdentification", sender_identification(args)),
            ("MessageID", args.message_id)]


def replace_spec(args):
    spec = cancel_spec(args) + [("ServiceCode", args.service_code), ("TimeStamp", now_iso()),
                                ("EarliestDeliveryTime", args.earliest)]
    return spec + [c for c in [content_spec(args)] if c]


def mime_entity(headers, body):
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return lines.encode("ascii") + b"\r\n" + body


def multipart(boundary, entities):
    out = b"".join(b"--" + boundary.encode() + b"\r\n" + e + b"\r\n" for e in entities)
    return out + b"--" + boundary.encode() + b"--\r\n"


def new_boundary():
    return f"=_vasp_{uuid.uuid4().hex}"


def file_entity(path, content_type):
    """A file as a MIME part: 7bit when it is ASCII text, base64 otherwise."""
    with open(path, "rb") as f:
        data = f.read()
    name = os.path.basename(path)
    textual = content_type.startswith("text/") or content_type.startswith("application/smil")
    seven_bit = textual and all(b < 0x80 and b != 0 for b in data)
    encoded = data if seven_bit else base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    headers = [("Content-Type", content_type), ("Content-ID", f"<{name}>"),
               ("Content-Location", name),
               ("Content-Transfer-Encoding", "7bit" if seven_bit else "base64")]
    return mime_entity(headers, encoded)


def content_entity(parts):
    """The message content as one multipart entity with Content-ID <mms-content>: related with
    the SMIL as its start when the first part is a SMIL, else mixed."""
    boundary = new_boundary()
    body = multipart(boundary, [file_entity(path, ct) for path, ct in parts])
    first_path, first_type = parts[0]
    if first_type.startswith("application/smil"):
        ct = (f'multipart/related; type="application/smil"; '
              f'start="<{os.path.basename(first_path)}>"; boundary="{boundary}"')
    else:
        ct = f'multipart/mixed; boundary="{boundary}"'
    return mime_entity([("Content-Type", ct), ("Content-ID", "<mms-content>")], body)


def soap_with_attachments(xml, attachments):
    """(Content-Type, body) of the HTTP request: the envelope alone, or multipart/related with
    the envelope as start part <soap-start> followed by the attachment entities."""
    if not attachments:
        return 'text/xml; charset="utf-8"', xml
    boundary = new_boundary()
    soap = mime_entity([("Content-Type", 'text/xml; charset="utf-8"'),
                        ("Content-ID", "<soap-start>")], xml)
    ct = f'multipart/related; type="text/xml"; start="<soap-start>"; boundary="{boundary}"'
    return ct, multipart(boundary, [soap] + attachments)


def status_spec(code):
    return ("Status", [("StatusCode", str(code)), ("StatusText", STATUS_TEXTS.get(code, "Status"))])


# ---------------------------------------------------------------------------------------------
# Reading and checking messages

def local(el):
    return etree.QName(el).localname


def ns_of(el):
    return etree.QName(el).namespace


def elements(el):
    """The child elements (no comments or processing instructions); none of a missing element."""
    return [] if el is None else [c for c in el if isinstance(c.tag, str)]


def child(el, name):
    return next((c for c in elements(el) if local(c) == name), None)


def text(el, name):
    c = child(el, name)
    return c.text.strip() if c is not None and c.text is not None else None


def parse_xml(xml, errors):
    """The root element, parsed strictly (no DTD, no entities, no network); None when not
    well-formed."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as e:
        errors.append(f"not well-formed: {e}")
        return None
    if root.getroottree().docinfo.doctype:
        errors.append("DOCTYPE in a SOAP message")
    return root


def read_envelope(root, errors, tid_required=True):
    """(TransactionID element, Body's child) of a SOAP 1.1 envelope; either may be None."""
    if local(root) != "Envelope":
        errors.append(f"root element is {local(root)}, not Envelope")
        return None, None
    if ns_of(root) != SOAP_ENV:
        errors.append(f"wrong SOAP namespace {ns_of(root)!r}")
    env = ns_of(root)
    names = [local(c) for c in elements(root)]
    if names not in (["Header", "Body"], ["Body"]):
        errors.append(f"Envelope children are {names}, not [Header,] Body")
    wrong = [local(c) for c in elements(root) if ns_of(c) != env]
    if wrong:
        errors.append(f"{wrong} not in the SOAP namespace")
    body = child(root, "Body")
    if body is None:
        errors.append("no Body")
        return read_transaction_id(child(root, "Header"), errors, tid_required), None
    ops = elements(body)
    if len(ops) != 1:
        errors.append(f"Body has {len(ops)} elements, not one")
    return read_transaction_id(child(root, "Header"), errors, tid_required), (ops[0] if ops else None)


def read_transaction_id(header, errors, required):
    """The TransactionID header, checked; an empty or missing one is an error when required
    (it is not in an answer to a request whose TransactionID could not be read)."""
    tid = child(header, "TransactionID")
    if tid is None:
        if required:
            errors.append("no TransactionID in the SOAP Header")
        return None
    if ns_of(tid) not in MM7_NAMESPACES:
        errors.append(f"TransactionID in namespace {ns_of(tid)!r}, not an MM7 one")
    must = tid.get(f"{{{SOAP_ENV}}}mustUnderstand")
    if must != "1":
        bare = tid.get("mustUnderstand")
        found = f"unqualified {bare!r}" if bare is not None else repr(must)
        errors.append(f"TransactionID mustUnderstand is {found}, not env:mustUnderstand=\"1\"")
    if required and not (tid.text or "").strip():
        errors.append("empty TransactionID")
    return tid


def check_order(op, errors):
    """Children in the operation's XSD sequence, each once, none unknown."""
    sequence = SEQUENCES.get(local(op))
    if sequence is None:
        return
    last = -1
    for c in elements(op):
        name = local(c)
        if name not in sequence:
            errors.append(f"unexpected element {name} in {local(op)}")
            continue
        at = sequence.index(name)
        if at == last:
            errors.append(f"{name} repeated in {local(op)}")
        elif at < last:
            errors.append(f"{name} out of schema order in {local(op)} (after {sequence[last]})")
        last = max(last, at)


def check_qualified(op, errors):
    """Every element under an MM7 operation is in the operation's namespace."""
    stray = sorted({local(e) for e in op.iter() if isinstance(e.tag, str) and ns_of(e) != ns_of(op)})
    if stray:
        errors.append(f"elements {stray} not in the namespace of {local(op)}")


def read_version(op, errors):
    version = text(op, "MM7Version")
    if version is None:
        errors.append(f"no MM7Version in {local(op)}")
    elif not re.fullmatch(r"\d+\.\d+\.\d+", version):
        errors.append(f"MM7Version {version!r} is not N.N.N")
    return version


def read_status(holder, errors):
    """(StatusCode, StatusText) of the Status in holder."""
    status = child(holder, "Status")
    if status is None:
        errors.append(f"no Status in {local(holder)}")
        return None, None
    code, status_text = text(status, "StatusCode"), text(status, "StatusText")
    if status_text is None:
        errors.append("no StatusText in Status")
    if code is None:
        errors.append("no StatusCode in Status")
        return None, status_text
    if not code.isdigit():
        errors.append(f"StatusCode {code!r} is not an integer")
        return None, status_text
    return int(code), status_text


def read_mm7_operation(op, errors):
    """Namespace, version and status of an MM7 operation element, checked."""
    if ns_of(op) not in MM7_NAMESPACES:
        errors.append(f"{local(op)} in namespace {ns_of(op)!r}, not an MM7 one")
    check_qualified(op, errors)
    check_order(op, errors)
    info = {"namespace": ns_of(op), "operation": local(op), "mm7_version": read_version(op, errors)}
    if local(op).endswith("Rsp"):
        info["status_code"], info["status_text"] = read_status(op, errors)
    return info


def read_fault(fault, errors):
    """A SOAP 1.1 Fault: faultcode, faultstring, and the MM7 error response in its detail."""
    info = {"namespace": None, "operation": "Fault", "fault_code": text(fault, "faultcode")}
    for name in ("faultcode", "faultstring"):
        c = child(fault, name)
        if c is None:
            errors.append(f"no {name} in Fault")
        elif ns_of(c) is not None:
            errors.append(f"{name} is namespace-qualified; SOAP 1.1 Fault children are not")
    code = info["fault_code"]
    if code is not None:
        prefix, _, name = code.rpartition(":")
        if fault.nsmap.get(prefix or None) != SOAP_ENV or name.split(".")[0] not in (
                "Client", "Server", "VersionMismatch", "MustUnderstand"):
            errors.append(f"faultcode {code!r} is not a SOAP 1.1 fault code")
    detail = child(fault, "detail")
    inner = elements(detail)[0] if detail is not None and elements(detail) else None
    if inner is not None and child(inner, "Status") is not None:
        info.update(read_mm7_operation(inner, errors))
        info["operation"] = "Fault"
    return info


def blank_info():
    return {"namespace": None, "operation": None, "transaction_id": None, "mm7_version": None,
            "status_code": None, "status_text": None, "message_id": None, "fault_code": None,
            "well_formed": False}


def read_message(xml, errors, tid_required=True):
    """Everything a test asserts on of one SOAP message, with the deviations in errors; also
    the TransactionID and operation elements."""
    info = blank_info()
    root = parse_xml(xml, errors)
    if root is None:
        return info, None, None
    info["well_formed"] = True
    tid, op = read_envelope(root, errors, tid_required)
    if tid is not None:
        info["transaction_id"] = (tid.text or "").strip()
    if op is None:
        return info, tid, None
    if local(op) == "Fault" and ns_of(op) == SOAP_ENV:
        info.update(read_fault(op, errors))
    else:
        info.update(read_mm7_operation(op, errors))
        info["message_id"] = text(op, "MessageID")
        if tid is not None and ns_of(tid) != ns_of(op):
            errors.append(f"TransactionID in namespace {ns_of(tid)!r}, {local(op)} in {ns_of(op)!r}")
    return info, tid, op


def parse_mime(content_type, body, errors):
    """The HTTP body as a MIME message, its MIME defects added to errors."""
    raw = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    for part in message.walk():
        errors.extend(f"MIME: {type(d).__name__}" for d in part.defects)
    return message


def content_id(part):
    cid = part.get("Content-ID")
    return cid.strip().removeprefix("<").removesuffix(">") if cid else None


def split_soap(content_type, body, errors):
    """(envelope bytes, other MIME parts) of an HTTP body: text/xml alone, or multipart/related
    whose start part (by start=, else the first) is the envelope."""
    media = content_type.split(";")[0].strip().lower()
    if media == "text/xml":
        return body, []
    if media != "multipart/related":
        errors.append(f"Content-Type {content_type!r} is neither text/xml nor multipart/related")
        return (body, []) if body.lstrip().startswith(b"<") else (None, [])
    message = parse_mime(content_type, body, errors)
    if not message.is_multipart() or not message.get_payload():
        errors.append("multipart/related body without parts")
        return None, []
    parts = message.get_payload()
    if message.get_param("type") != "text/xml":
        errors.append(f"multipart/related type parameter is {message.get_param('type')!r}, not text/xml")
    start = message.get_param("start")
    root = parts[0]
    if start is not None:
        wanted = start.strip().removeprefix("<").removesuffix(">")
        root = next((p for p in parts if content_id(p) == wanted), None)
        if root is None:
            errors.append(f"start {start!r} names no part")
            root = parts[0]
    if root.get_content_type() != "text/xml":
        errors.append(f"SOAP part is {root.get_content_type()}, not text/xml")
    return root.get_payload(decode=True), [p for p in parts if p is not root]


# ---------------------------------------------------------------------------------------------
# The VASP as client: submit, cancel, replace

def post(url, user, password, content_type, body):
    """(status, Content-Type, body) of an HTTP POST; OSError when the relay cannot be reached."""
    target = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(target.hostname, target.port, timeout=60)
    headers = {"Content-Type": content_type, "SOAPAction": '""'}
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        path = (target.path or "/") + ("?" + target.query if target.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    except http.client.HTTPException as e:
        raise OSError(f"HTTP: {e}") from e
    finally:
        connection.close()


def check_answer(status, content_type, body, expected_op, sent_ns, sent_tid):
    """The relay's answer to one request as printed: what it says and what is wrong with it."""
    errors = []
    if not body.strip():
        errors.append(f"HTTP {status} with an empty body, not a SOAP message")
        xml = None
    else:
        xml, _ = split_soap(content_type, body, errors)
    if xml is None:
        info = blank_info()
        errors.append("non-XML answer")
    else:
        info, _, _ = read_message(xml, errors, tid_required=sent_tid is not None)
    operation = info["operation"]
    if info["well_formed"] and operation not in (expected_op, "RSErrorRsp", "Fault"):
        errors.append(f"answer is {operation}, not {expected_op}, RSErrorRsp or a Fault")
    if operation == "Fault" and status != 500:
        errors.append(f"SOAP Fault with HTTP {status}, not 500")
    if status == 500 and operation != "Fault":
        errors.append("HTTP 500 without a SOAP Fault")
    if operation in (expected_op, "RSErrorRsp") and status != 200:
        errors.append(f"{operation} with HTTP {status}, not 200")
    if operation is not None and sent_ns is not None and info["namespace"] not in (None, sent_ns):
        errors.append(f"answer in namespace {info['namespace']!r}, request in {sent_ns!r}")
    if info["well_formed"] and sent_tid is not None and info["transaction_id"] != sent_tid:
        errors.append(f"TransactionID {info['transaction_id']!r} does not echo {sent_tid!r}")
    if operation == "SubmitRsp" and info["status_code"] in (1000, 1100) and not info["message_id"]:
        errors.append("successful SubmitRsp without a MessageID")
    return {"http_status": status, "content_type": content_type, **info, "errors": errors}


def sent_identity(xml):
    """(namespace, TransactionID) of a request as sent, or Nones when it cannot be read."""
    root = parse_xml(xml, [])
    if root is None:
        return None, None
    tid, op = read_envelope(root, [])
    return (ns_of(op) if op is not None else None,
            (tid.text or "").strip() if tid is not None else None)


def parse_parts(specs):
    parts = []
    for spec in specs or []:
        path, sep, content_type = spec.rpartition(":")
        if not sep or not path or not content_type:
            raise SystemExit(f"--part wants FILE:CONTENT-TYPE, got {spec!r}")
        parts.append((path, content_type))
    return parts


def request_body(args, operation, spec):
    """(Content-Type, body, expected namespace, expected TransactionID) of the request."""
    if getattr(args, "raw_body", None):
        with open(args.raw_body, "rb") as f:
            raw = f.read()
        return (args.content_type_override or "text/xml", raw) + sent_identity(raw)
    tid = args.transaction_id or f"vasp-{uuid.uuid4().hex[:16]}"
    xml = envelope(args.ns, tid, operation, spec)
    parts = parse_parts(getattr(args, "part", None))
    if not parts and not args.no_content:
        raise SystemExit(f"{operation} needs --part FILE:CONTENT-TYPE or --no-content")
    attachments = [] if args.no_content else [content_entity(parts)]
    content_type, body = soap_with_attachments(xml, attachments)
    return args.content_type_override or content_type, body, args.ns, tid


def run_client(args, operation, spec):
    content_type, body, sent_ns, sent_tid = request_body(args, operation, spec)
    try:
        status, answer_type, answer = post(args.url, args.user, args.password, content_type, body)
    except OSError as e:
        print(f"cannot talk to {args.url}: {e}", file=sys.stderr)
        return 1
    expected = operation.replace("Req", "Rsp")
    print(json.dumps(check_answer(status, answer_type, answer, expected, sent_ns, sent_tid)))
    return 0


# ---------------------------------------------------------------------------------------------
# The VASP as server: DeliverReq, DeliveryReportReq, ReadReplyReq

def address_of(el, errors, where):
    """{"kind", "value"} of the single address in el."""
    found = [c for c in elements(el) if local(c) in ADDRESS_KINDS]
    if len(found) != 1 or len(elements(el)) != 1:
        errors.append(f"{where} holds {[local(c) for c in elements(el)]}, not one address")
    if not found:
        return None
    return {"kind": local(found[0]), "value": (found[0].text or "").strip()}


def recipients_of(op, errors):
    """[{"field", "kind", "value"}] of Recipients (DeliverReq) or Recipient (reports)."""
    single = child(op, "Recipient")
    if single is not None:
        a = address_of(single, errors, "Recipient")
        return [{"field": "Recipient", **a}] if a else []
    out = []
    for group in elements(child(op, "Recipients")):
        if local(group) not in ("To", "Cc", "Bcc"):
            errors.append(f"{local(group)} in Recipients")
            continue
        for a in elements(group):
            if local(a) not in ADDRESS_KINDS:
                errors.append(f"{local(a)} is not an address kind")
                continue
            display_only = a.get("displayOnly")
            if display_only is not None and display_only not in XSD_BOOLEANS:
                errors.append(f"displayOnly {display_only!r} is not an xs:boolean")
            out.append({"field": local(group), "kind": local(a), "value": (a.text or "").strip()})
    return out


def check_fields(op, errors):
    """The operation's mandatory elements and the values with a schema type."""
    name = local(op)
    for required in REQUIRED.get(name, []):
        if child(op, required) is None:
            errors.append(f"no {required} in {name}")
    for field in ("TimeStamp", "Date"):
        value = text(op, field)
        if value is not None and not valid_date_time(value):
            errors.append(f"{field} {value!r} is not an xs:dateTime")
    status = text(op, "MMStatus")
    if status is not None and name in MM_STATUS and status not in MM_STATUS[name]:
        errors.append(f"MMStatus {status!r} is not one of {sorted(MM_STATUS[name])}")
    priority = text(op, "Priority")
    if priority is not None and priority not in ("High", "Normal", "Low"):
        errors.append(f"Priority {priority!r} is not High, Normal or Low")


def valid_date_time(value):
    if not DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def decoded(part, errors):
    """The decoded body bytes of a leaf MIME part, checking its transfer encoding."""
    cte = (part.get("Content-Transfer-Encoding") or "7bit").strip().lower()
    raw = part.get_payload(decode=False)
    if cte == "base64":
        try:
            return base64.b64decode("".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            errors.append(f"part {content_id(part)!r}: invalid base64")
            return part.get_payload(decode=True)
    data = part.get_payload(decode=True)
    if cte == "7bit" and any(b >= 0x80 or b == 0 for b in data):
        errors.append(f"part {content_id(part)!r} is declared 7bit but holds 8-bit data")
    return data


def describe_part(part, errors):
    if part.get("Content-Type") is None:
        errors.append(f"part {content_id(part)!r} has no Content-Type")
    entry = {"content_type": part.get_content_type(), "content_id": content_id(part),
             "content_location": part.get("Content-Location")}
    entry["b64"] = None if part.is_multipart() else base64.b64encode(decoded(part, errors)).decode()
    return entry


def content_of(op, attachments, errors):
    """The attachment the Content href names, for the log: its type and bytes, or its parts."""
    out = {"content_type": None, "content_b64": None, "parts": []}
    content = child(op, "Content")
    if content is None:
        return out
    href = content.get("href")
    adapt = content.get("allowAdaptations")
    if adapt is not None and adapt not in XSD_BOOLEANS:
        errors.append(f"allowAdaptations {adapt!r} is not an xs:boolean")
    if not href or not href.lower().startswith("cid:"):
        errors.append(f"Content href {href!r} is not a cid: URL")
        return out
    wanted = urllib.parse.unquote(href[4:]).removeprefix("<").removesuffix(">")
    entity = next((a for a in attachments if content_id(a) == wanted), None)
    if entity is None:
        errors.append(f"Content href {href!r} names no attachment")
        return out
    out["content_type"] = entity.get_content_type()
    if not entity.is_multipart():
        out["content_b64"] = base64.b64encode(decoded(entity, errors)).decode()
        return out
    subparts = entity.get_payload()
    out["parts"] = [describe_part(p, errors) for p in subparts]
    start = entity.get_param("start")
    if start is not None and start.strip("<>") not in [content_id(p) for p in subparts]:
        errors.append(f"content start {start!r} names no part")
    return out


def check_request(content_type, soap_action, body, expected_ns):
    """The log record of one POST from the relay."""
    errors = []
    if soap_action is None:
        errors.append("no SOAPAction header")
    xml, attachments = split_soap(content_type, body, errors)
    if xml is None:
        errors.append("no SOAP envelope in the body")
        info, op = blank_info(), None
    else:
        info, _, op = read_message(xml, errors)
    record = {"http_content_type": content_type, "soap_action": soap_action,
              **{k: info[k] for k in ("operation", "namespace", "transaction_id", "mm7_version",
                                      "message_id", "well_formed")},
              "sender": None, "recipients": [], "mm_status": None, "status_text": None,
              "subject": None, "linked_id": None, "priority": None, "relay_server_id": None,
              "date": None, "timestamp": None, "content_type": None, "content_b64": None,
              "parts": []}
    if op is None or local(op) not in RESPONSE_OF:
        if info["well_formed"]:
            errors.append(f"{info['operation']} is not DeliverReq, DeliveryReportReq or ReadReplyReq")
        return record, errors
    if expected_ns != "any" and ns_of(op) != expected_ns:
        errors.append(f"{local(op)} in namespace {ns_of(op)!r}, expected {expected_ns!r}")
    check_fields(op, errors)
    sender = child(op, "Sender")
    record.update({
        "sender": address_of(sender, errors, "Sender") if sender is not None else None,
        "recipients": recipients_of(op, errors),
        "mm_status": text(op, "MMStatus"), "status_text": text(op, "StatusText"),
        "subject": text(op, "Subject"), "linked_id": text(op, "LinkedID"),
        "priority": text(op, "Priority"), "relay_server_id": text(op, "MMSRelayServerID"),
        "date": text(op, "Date"), "timestamp": text(op, "TimeStamp"),
    })
    record.update(content_of(op, attachments, errors))
    return record, errors


def answer(record, status, http_status):
    """(HTTP status, body) answering a checked request: the matching Rsp in its namespace, or a
    Fault with a VASPErrorRsp (HTTP 500) when the operation could not be made out."""
    ns = record["namespace"] if record["namespace"] in MM7_NAMESPACES else MM7_NAMESPACES[-1]
    version = record["mm7_version"] or "6.8.0"
    tid = record["transaction_id"] or ""
    operation = RESPONSE_OF.get(record["operation"])
    if operation is None:
        return 500, fault_xml(ns, version, tid, 4003 if record["well_formed"] else 2007)
    return http_status, envelope(ns, tid, operation, [("MM7Version", version), status_spec(status)])


def fault_xml(ns, version, tid, code):
    env = etree.fromstring(envelope(ns, tid, "VASPErrorRsp", [("MM7Version", version), status_spec(code)]))
    body = env.find(f"{{{SOAP_ENV}}}Body")
    error_rsp = body[0]
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = "env:Client" if code < 3000 else "env:Server"
    etree.SubElement(fault, "faultstring").text = STATUS_TEXTS.get(code, "Error")
    etree.SubElement(fault, "detail").append(error_rsp)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


class Receiver(http.server.ThreadingHTTPServer):
    """The serve subcommand's state: the options, the log and how many requests to fail."""

    daemon_threads = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), ReceiverHandler)
        self.args = args
        self.lock = threading.Lock()
        self.to_fail = args.fail_first
        self.log = open(args.log, "a", encoding="utf-8")

    def write_log(self, record):
        with self.lock:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()

    def take_failure(self):
        with self.lock:
            if self.to_fail > 0:
                self.to_fail -= 1
                return True
            return False

    def auth_ok(self, header):
        if self.args.user is None:
            return True
        token = base64.b64encode(f"{self.args.user}:{self.args.password or ''}".encode()).decode()
        return header == f"Basic {token}"


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        """Quiet: everything worth seeing is in the log file."""

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, body=b"", extra=()):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", 'text/xml; charset="utf-8"')
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        server = self.server
        body = self.read_body()
        record, errors = check_request(self.headers.get("Content-Type", ""),
                                       self.headers.get("SOAPAction"), body, server.args.ns)
        auth_ok = server.auth_ok(self.headers.get("Authorization"))
        if not auth_ok:
            status, reply, extra = 401, b"", [("WWW-Authenticate", 'Basic realm="vasp"')]
        elif server.take_failure():
            status, reply, extra = 503, b"", []
        else:
            status, reply = answer(record, server.args.status, server.args.http_status)
            extra = []
        server.write_log({**record, "errors": errors, "auth_ok": auth_ok, "path": self.path,
                          "http_status": status})
        self.reply(status, reply, extra)


def serve(args):
    server = Receiver(args)
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    server.serve_forever()
    return 0


# ---------------------------------------------------------------------------------------------
# Self-test

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4DwABAQEAGN2NsAAAAABJRU5ErkJggg==")
SMIL = b'<smil><body><par dur="5s"><img src="cid:img.png"/><text src="cid:hello.txt"/></par></body></smil>'


class SelfTest:
    """Requests as the relay would send them, posted to a serve, and what must be logged."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.log = os.path.join(workdir, "serve.jsonl")
        self.failures = []
        self.logged = 0

    def file(self, name, data):
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def expect(self, what, ok):
        if not ok:
            self.failures.append(what)

    def next_record(self):
        with open(self.log, encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.logged += 1
        return json.loads(lines[self.logged - 1])

    def deliver_req(self, ns, tid):
        files = [(self.file("p.smil", SMIL), "application/smil"),
                 (self.file("hello.txt", "Grüße\r\n".encode()), "text/plain; charset=utf-8"),
                 (self.file("img.png", PNG), "image/png")]
        spec = [("MM7Version", "5.3.0"), ("MMSRelayServerID", "relay"), ("LinkedID", "link-1"),
                ("Sender", [("Number", "+15550100001")]),
                ("Recipients", recipients_spec(["4444"], ["a@example.org"], [])),
                ("TimeStamp", now_iso()), ("Priority", "High"), ("Subject", "Tom & Jerry <3"),
                ("Content", None, {"href": "cid:mms-content", "allowAdaptations": "true"})]
        return soap_with_attachments(envelope(ns, tid, "DeliverReq", spec), [content_entity(files)])

    @staticmethod
    def report_req(ns, tid, operation, status):
        date = "Date" if operation == "DeliveryReportReq" else "TimeStamp"
        spec = [("MM7Version", "6.8.0"), ("MessageID", "msg-1"),
                ("Recipient", [("Number", "+15550100002")]), ("Sender", [("ShortCode", "4444")]),
                (date, now_iso()), ("MMStatus", status)]
        return soap_with_attachments(envelope(ns, tid, operation, spec), [])

    def exchange(self, port, content_type, body, expected_op, ns, tid, auth=("u", "p")):
        status, answer_type, reply = post(f"http://127.0.0.1:{port}/mm7", *auth, content_type, body)
        if status != 200:
            return status, None
        return status, check_answer(status, answer_type, reply, expected_op, ns, tid)

    def run_valid(self, port, ns):
        tid = f"tx-{ns[-3:]}"
        status, result = self.exchange(port, *self.deliver_req(ns, tid), "DeliverRsp", ns, tid)
        self.expect(f"DeliverRsp in {ns}: {result}", status == 200 and result["errors"] == []
                    and result["status_code"] == 1000 and result["namespace"] == ns)
        r = self.next_record()
        parts = {p["content_id"]: p for p in r["parts"]}
        self.expect(f"DeliverReq logged in {ns}: {r}", r["errors"] == [] and r["auth_ok"]
                    and r["operation"] == "DeliverReq" and r["namespace"] == ns
                    and r["transaction_id"] == tid and r["subject"] == "Tom & Jerry <3"
                    and r["content_type"] == "multipart/related"
                    and r["sender"] == {"kind": "Number", "value": "+15550100001"}
                    and r["recipients"][1] == {"field": "Cc", "kind": "RFC2822Address",
                                               "value": "a@example.org"}
                    and base64.b64decode(parts["img.png"]["b64"]) == PNG
                    and base64.b64decode(parts["hello.txt"]["b64"]) == "Grüße\r\n".encode()
                    and base64.b64decode(parts["p.smil"]["b64"]) == SMIL)
        for operation, mm_status in (("DeliveryReportReq", "Retrieved"), ("ReadReplyReq", "Read")):
            expected = RESPONSE_OF[operation]
            status, result = self.exchange(port, *self.report_req(ns, tid, operation, mm_status),
                                           expected, ns, tid)
            self.expect(f"{expected} in {ns}: {result}",
                        status == 200 and result["errors"] == [] and result["operation"] == expected)
            r = self.next_record()
            self.expect(f"{operation} logged in {ns}: {r}", r["errors"] == [] and r["mm_status"] == mm_status
                        and r["message_id"] == "msg-1" and r["namespace"] == ns
                        and r["recipients"] == [{"field": "Recipient", "kind": "Number",
                                                 "value": "+15550100002"}])

    def run_faulty(self, port):
        """A DeliverReq with the mistakes a relay could make is logged with each of them."""
        ns = MM7_NAMESPACES[0]
        content_type, body = self.deliver_req(ns, "tx-bad")
        body = (body.replace(b' env:mustUnderstand="1"', b"")
                .replace(b"cid:mms-content", b"cid:elsewhere")
                .replace(b"<mm7:Priority>High</mm7:Priority>", b"<Priority>Urgent</Priority>"))
        self.exchange(port, content_type, body, "DeliverRsp", ns, "tx-bad")
        errors = " | ".join(self.next_record()["errors"])
        for needle in ("mustUnderstand", "names no attachment", "not in the namespace", "Urgent"):
            self.expect(f"faulty DeliverReq: {needle!r} not in {errors}", needle in errors)
        status, _ = self.exchange(port, "text/xml", b"<env:Envelope", "DeliverRsp", ns, None)
        r = self.next_record()
        self.expect(f"malformed body: {status} {r}", status == 500 and not r["well_formed"])

    def run_auth_and_failures(self, port, ns):
        content_type, body = self.report_req(ns, "tx-auth", "ReadReplyReq", "Deleted")
        status, _ = self.exchange(port, content_type, body, "ReadReplyRsp", ns, "tx-auth", ("u", "x"))
        r = self.next_record()
        self.expect(f"wrong password: {status} {r}", status == 401 and not r["auth_ok"])
        status, _ = self.exchange(port, content_type, body, "ReadReplyRsp", ns, "tx-auth")
        r = self.next_record()
        self.expect(f"fail-first: {status} {r}", status == 503 and r["auth_ok"] and r["http_status"] == 503)

    def run_submit_shape(self):
        """The SubmitReq this script sends passes its own reading of the standard."""
        args = build_parser().parse_args(
            ["submit", "--url", "http://x/", "--vasp-id", "v", "--vas-id", "s", "--sender", "4444",
             "--to", "+15550100001", "--to", "a@example.org", "--subject", "Hi", "--delivery-report",
             "--priority", "Low", "--expiry", "P1D", "--part", f"{self.file('t.txt', b'hi')}:text/plain"])
        content_type, body, ns, tid = request_body(args, "SubmitReq", submit_spec(args))
        errors = []
        xml, attachments = split_soap(content_type, body, errors)
        info, _, op = read_message(xml, errors)
        content = content_of(op, attachments, errors)
        self.expect(f"SubmitReq as built: {errors} {info}", errors == [] and info["namespace"] == ns
                    and info["transaction_id"] == tid
                    and base64.b64decode(content["parts"][0]["b64"]) == b"hi")

    def run(self):
        self.run_submit_shape()
        command = [sys.executable, os.path.abspath(__file__), "serve", "--port", "0", "--ns", "any",
                   "--log", self.log, "--user", "u", "--password", "p", "--fail-first", "1"]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
            try:
                port = json.loads(process.stdout.readline())["listening"]
                self.run_auth_and_failures(port, MM7_NAMESPACES[2])
                for ns in (MM7_NAMESPACES[2], MM7_NAMESPACES[-1]):
                    self.run_valid(port, ns)
                self.run_faulty(port)
            finally:
                process.terminate()
        return self.failures


def selftest(_args):
    with tempfile.TemporaryDirectory() as workdir:
        failures = SelfTest(workdir).run()
    print(json.dumps({"ok": not failures, "failures": failures}))
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------
# Command line

def add_client_options(p):
    p.add_argument("--url", required=True)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--ns", type=namespace_uri, default=MM7_NAMESPACES[-1])
    p.add_argument("--version", default="6.8.0")
    p.add_argument("--vasp-id")
    p.add_argument("--vas-id")
    p.add_argument("--transaction-id")
    p.add_argument("--content-type-override")


def add_content_options(p):
    p.add_argument("--part", action="append", metavar="FILE:CONTENT-TYPE")
    p.add_argument("--no-content", action="store_true")
    p.add_argument("--bad-cid", action="store_true")
    p.add_argument("--service-code")
    p.add_argument("--earliest")


def build_parser():
    parser = argparse.ArgumentParser(description="MM7 VASP peer (3GPP TS 23.140) for tests")
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", help="POST a SubmitReq")
    add_client_options(submit)
    add_content_options(submit)
    submit.add_argument("--sender")
    submit.add_argument("--to", action="append", default=[])
    submit.add_argument("--cc", action="append", default=[])
    submit.add_argument("--bcc", action="append", default=[])
    submit.add_argument("--subject")
    submit.add_argument("--delivery-report", action="store_true")
    submit.add_argument("--read-reply", action="store_true")
    submit.add_argument("--no-distribution", action="store_true",
                        help="DistributionIndicator false: recipients may not pass it on")
    submit.add_argument("--linked-id")
    submit.add_argument("--priority", choices=["High", "Normal", "Low"])
    submit.add_argument("--message-class")
    submit.add_argument("--expiry")
    submit.add_argument("--raw-body", metavar="FILE")
    submit.set_defaults(run=lambda a: run_client(a, "SubmitReq", submit_spec(a)))

    cancel = commands.add_parser("cancel", help="POST a CancelReq")
    add_client_options(cancel)
    cancel.add_argument("--message-id", required=True)
    cancel.set_defaults(run=lambda a: run_client(a, "CancelReq", cancel_spec(a)), no_content=True)

    replace = commands.add_parser("replace", help="POST a ReplaceReq with new content")
    add_client_options(replace)
    add_content_options(replace)
    replace.add_argument("--message-id", required=True)
    replace.set_defaults(run=lambda a: run_client(a, "ReplaceReq", replace_spec(a)))

    receive = commands.add_parser("serve", help="receive DeliverReq and reports")
    receive.add_argument("--port", type=int, required=True)
    receive.add_argument("--ns", type=lambda v: v if v == "any" else namespace_uri(v), default="any")
    receive.add_argument("--log", required=True)
    receive.add_argument("--status", type=int, default=1000)
    receive.add_argument("--http-status", type=int, default=200)
    receive.add_argument("--fail-first", type=int, default=0)
    receive.add_argument("--user")
    receive.add_argument("--password")
    receive.set_defaults(run=serve)

    commands.add_parser("selftest", help="check this script without the relay").set_defaults(run=selftest)
    return parser


def main():
    args = build_parser().parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
