#!/usr/bin/env python3
"""Third-party client check: drive `pbal sim` with IBind (an existing Client Portal client),
unchanged, trusting the simulator's CA. Not part of CI.

    pip install ibind
    cargo build
    python3 scripts/sim_ibind_check.py [--pbal target/debug/pbal]

It starts `pbal sim --listen 127.0.0.1:0 --ca-out <tmp>/ca.pem`, reads the address from the first
stdout line, then uses ibind.IbkrClient(url=..., cacert=<ca.pem>) for the session, portfolio,
market data (with the pre-flight), order placement through IBind's question handling, live
orders, trades and cancellation. Exits non-zero on the first mismatch.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from ibind import IbkrClient, OrderRequest, QuestionType
from ibind.support.errors import ExternalBrokerError

ACCOUNT = 'DU1234567'
VAW = 999000102  # placeholder conid of the default account's VAW


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pbal', default=os.path.join(os.path.dirname(__file__), '..', 'target', 'debug', 'pbal'))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    ca = os.path.join(tmp, 'ca.pem')
    sim = subprocess.Popen([args.pbal, 'sim', '--listen', '127.0.0.1:0', '--ca-out', ca],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = sim.stdout.readline().strip()
        check(first.startswith('listening on https://127.0.0.1:'), f'first line: {first!r}')
        base = first.split(' ', 2)[2]
        client = IbkrClient(url=f'{base}/v1/api/', cacert=ca, account_id=ACCOUNT,
                            auto_register_shutdown=False, timeout=5, max_retries=1)

        check(client.check_health(), 'check_health (tickle, verified TLS)')
        st = client.authentication_status().data
        check(st['authenticated'] and not st['competing'], 'authentication_status')
        accts = client.receive_brokerage_accounts().data
        check(accts['accounts'] == [ACCOUNT], 'receive_brokerage_accounts (/iserver/accounts)')
        check(client.portfolio_accounts().data[0]['id'] == ACCOUNT, 'portfolio_accounts')
        pos = client.positions().data
        check(len(pos) == 10 and any(p['ticker'] == 'VAW' for p in pos), f'positions: {len(pos)} rows')
        ledger = client.get_ledger().data
        check(ledger['USD']['cashbalance'] == 5000, 'get_ledger cash 5000')
        found = client.search_contract_by_symbol('VAW').data
        check(found[0]['conid'] == str(VAW), 'search_contract_by_symbol')
        # ibind's live_marketdata_snapshot does one call; the first returns no fields (pre-flight).
        s1 = client.live_marketdata_snapshot([str(VAW)], ['31', '84', '86']).data
        check('31' not in s1[0], 'snapshot pre-flight returns no fields')
        time.sleep(0.2)
        s2 = client.live_marketdata_snapshot([str(VAW)], ['31', '84', '86']).data
        check(s2[0]['31'] == '180.51', f'snapshot second call: {s2[0].get("31")}')

        # The simulator enforces the real 10 req/s: IBind does not pace itself, so this script does.
        time.sleep(1.1)
        # An order with a price 5 % above market triggers o163, answered by IBind's question loop.
        req = OrderRequest(conid=VAW, side='BUY', quantity=2, order_type='LMT', price=189.5,
                           acct_id=ACCOUNT, coid='ibind-check-1', tif='DAY')
        answers = {QuestionType.PRICE_PERCENTAGE_CONSTRAINT: True,
                   QuestionType.ORDER_VALUE_LIMIT: True}
        placed = client.place_order(req, answers).data
        check('order_id' in placed, f'place_order through the reply flow: {placed}')
        time.sleep(1.1)
        # Duplicate cOID: IBind recognises the real error text.
        try:
            client.place_order(req, answers)
            check(False, 'duplicate cOID must fail')
        except ExternalBrokerError as e:
            check('already registered' in str(e), 'duplicate cOID recognised by IBind')

        time.sleep(5.1)  # live orders: 1 request / 5 s
        client.live_orders(account_id=ACCOUNT)  # first call after auth: empty (pre-flight)
        time.sleep(5.1)
        live = client.live_orders(account_id=ACCOUNT).data
        check(any(o.get('order_ref') == 'ibind-check-1' and o['status'] == 'Filled' for o in live['orders']),
              'live_orders shows the filled order by order_ref')
        trades = client.trades().data
        check(any(t.get('order_ref') == 'ibind-check-1' for t in trades), 'trades')
        time.sleep(1.1)
        # Working order + cancel.
        req2 = OrderRequest(conid=VAW, side='BUY', quantity=1, order_type='LMT', price=179.0,
                            acct_id=ACCOUNT, coid='ibind-check-2', tif='DAY')
        r2 = client.place_order(req2, answers).data
        c = client.cancel_order(r2['order_id']).data
        check(c.get('msg') == 'Request was submitted', 'cancel_order')
        check(client.logout().data.get('status') is True, 'logout')
        print('ibind check passed')
    finally:
        sim.terminate()
        sim.wait(timeout=10)


if __name__ == '__main__':
    main()
