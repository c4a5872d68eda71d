"""Shared fixtures for the end-to-end tests: the proxy, the real NetBox behind it, and the seed.

The environment names the services (scripts/test.sh sets all three):
  NBSP_PROXY_URL   base URL of the running proxy, e.g. http://127.0.0.1:40123
  NBSP_NETBOX_URL  base URL of the NetBox the proxy forwards to, e.g. http://127.0.0.1:8001
  NBSP_SEED        path of the seed.json written by scripts/netbox_seed.py
A missing variable or an unreachable service fails the tests that need it; nothing is skipped.
"""

import json
import os

import pytest
import requests

from helpers import TIMEOUT


def _required_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f'{name} is not set; run the end-to-end tests through scripts/test.sh', pytrace=False)
    return value.rstrip('/')


def _check_reachable(name, base_url):
    try:
        requests.get(f'{base_url}/login/', timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        pytest.fail(f'{name} at {base_url} is not reachable: {exc}', pytrace=False)


@pytest.fixture(scope='session')
def seed():
    path = _required_env('NBSP_SEED')
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as exc:
        pytest.fail(f'cannot read the seed file {path}: {exc}', pytrace=False)


@pytest.fixture(scope='session')
def netbox_url():
    url = _required_env('NBSP_NETBOX_URL')
    _check_reachable('NetBox', url)
    return url


@pytest.fixture(scope='session')
def proxy_url():
    url = _required_env('NBSP_PROXY_URL')
    _check_reachable('the proxy', url)
    return url


@pytest.fixture(scope='session')
def tokens(seed):
    return seed['tokens']
