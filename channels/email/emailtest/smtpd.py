"""A throwaway SMTP server for Go tests (kairos/channels/email/emailtest).

Runs aiosmtpd on a free loopback port, prints the port on stdout, and
writes every accepted message to --dir as <seq>.json (envelope, raw bytes
in base64, whether STARTTLS was used, the authenticated login). It stops
when stdin closes.

With --cert/--key it offers and requires STARTTLS; with --user/--password
it requires AUTH, only over TLS (auth_require_tls).

Recipient local parts steer the replies:
  reply-NNN@...  RCPT is answered NNN (550, 553, 451, 452, 421, ...)
  data-NNN@...   RCPT is accepted, DATA answered NNN
  delay-MS@...   RCPT is answered after MS milliseconds
  late-MS@...    the message is accepted (written), then the final reply
                 comes after MS milliseconds: a client that gives up first
                 cannot know it was accepted
"""
import argparse
import asyncio
import base64
import itertools
import json
import os
import re
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

TEXTS = {
    421: "4.3.2 Service shutting down",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Local error, try again later",
    452: "4.2.2 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Message rejected",
}


def reply(code):
    return "%d %s" % (code, TEXTS.get(code, "emailtest reply"))


def local_part(address):
    return address.rsplit("@", 1)[0].lower()


class Handler:
    def __init__(self, directory):
        self.dir = directory
        self.seq = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = local_part(address)
        m = re.fullmatch(r"reply-(\d{3})", local)
        if m:
            return reply(int(m.group(1)))
        m = re.fullmatch(r"delay-(\d+)", local)
        if m:
            await asyncio.sleep(int(m.group(1)) / 1000)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            m = re.fullmatch(r"data-(\d{3})", local_part(rcpt))
            if m:
                return reply(int(m.group(1)))
        n = next(self.seq)
        queue_id = "Q%06d" % n
        login = session.login_data
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": base64.b64encode(envelope.original_content).decode("ascii"),
            "tls": session.ssl is not None,
            "login": login or "",
            "queue_id": queue_id,
        }
        path = os.path.join(self.dir, "%08d.json" % n)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)
        for rcpt in envelope.rcpt_tos:
            m = re.fullmatch(r"late-(\d+)", local_part(rcpt))
            if m:
                await asyncio.sleep(int(m.group(1)) / 1000)
        return "250 2.0.0 Ok: queued as " + queue_id


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    args = p.parse_args()

    tls_context = None
    if args.cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == args.user.encode()
              and auth_data.password == args.password.encode())
        # handled=False: smtp_AUTH answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    handler = Handler(args.dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return SMTP(
            handler,
            hostname="emailtest.invalid",
            tls_context=tls_context,
            require_starttls=tls_context is not None,
            authenticator=authenticator if args.user else None,
            auth_required=bool(args.user),
            auth_require_tls=True,
            loop=loop,
        )

    server = loop.run_until_complete(loop.create_server(factory, host="127.0.0.1", port=0))
    print(server.sockets[0].getsockname()[1], flush=True)

    def watch_stdin():
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=watch_stdin, daemon=True).start()
    loop.run_forever()


if __name__ == "__main__":
    main()
