"""Who may call the secrets API root through the proxy, and the refusals it gives otherwise.

Every refusal must carry exactly the `detail` that NetBox itself gives for the same credentials on
/api/authentication-check/, so clients see one behaviour whichever API they call.
"""

import pytest
import requests

from helpers import TIMEOUT, auth, csrf_form_token, fetch

SECRETS_ROOT = '/api/plugins/secrets/'
ROOT_KEYS = ['generate-rsa-key-pair', 'secret-roles', 'secrets', 'session-key', 'user-keys']

NO_CREDENTIALS = 'Authentication credentials were not provided.'
MALFORMED = 'Invalid authorization header: Must be in the form "Bearer <key>.<token>" or "Token <token>"'
V2_WITHOUT_DOT = (
    "Invalid authorization header: Could not parse key from v2 token. "
    "Did you mean to use 'Token' instead of 'Bearer'?"
)


def v2_parts(value):
    key, secret = value.removeprefix('nbt_').split('.', 1)
    return key, secret


GOOD_CREDENTIALS = {
    'v1-token': lambda t: auth('Token', t['ADMIN_V1']),
    'v2-bearer': lambda t: auth('Bearer', t['ADMIN_V2']),
    'v2-lowercase-bearer': lambda t: auth('bearer', t['ADMIN_V2']),
    'v1-lowercase-token': lambda t: auth('token', t['ADMIN_V1']),
    'v2-under-token': lambda t: auth('Token', t['ADMIN_V2']),
    'v1-under-bearer': lambda t: auth('Bearer', t['ADMIN_V1']),
    'extra-spaces': lambda t: {'Authorization': f"Token   {t['ADMIN_V1']}"},
    'alice-v1': lambda t: auth('Token', t['ALICE_V1']),
    'alice-read-only-v2': lambda t: auth('Bearer', t['ALICE_V2_READONLY']),
    'bob-without-permissions': lambda t: auth('Bearer', t['BOB_V2']),
}

# name -> (headers from the tokens, the detail NetBox gives)
BAD_CREDENTIALS = {
    'none': (lambda t: {}, NO_CREDENTIALS),
    'garbage-v1': (lambda t: auth('Token', 'garbage'), 'Invalid v1 token'),
    'unknown-v1': (lambda t: auth('Token', '0123456789abcdef' * 2 + '01234567'), 'Invalid v1 token'),
    'v2-wrong-secret': (
        lambda t: auth('Bearer', f"nbt_{v2_parts(t['ADMIN_V2'])[0]}.{'A' * 40}"),
        'Invalid v2 token',
    ),
    'v2-unknown-key': (lambda t: auth('Bearer', f"nbt_ZZZZZZZZZZZZ.{'A' * 40}"), 'Invalid v2 token'),
    'v2-missing-prefix': (lambda t: auth('Bearer', t['ADMIN_V2'].removeprefix('nbt_')), 'Invalid v1 token'),
    'v2-missing-dot': (lambda t: auth('Bearer', t['ADMIN_V2'].replace('.', '', 1)), V2_WITHOUT_DOT),
    'expired': (lambda t: auth('Bearer', t['ADMIN_V2_EXPIRED']), 'Token expired'),
    'disabled': (lambda t: auth('Token', t['ADMIN_V1_DISABLED']), 'Token disabled'),
    'keyword-only': (lambda t: {'Authorization': 'Token'}, MALFORMED),
    'three-words': (lambda t: {'Authorization': f"Token {t['ADMIN_V1']} extra"}, MALFORMED),
    'no-keyword': (lambda t: {'Authorization': t['ADMIN_V1']}, NO_CREDENTIALS),
    'basic-scheme': (lambda t: {'Authorization': 'Basic YWRtaW46YWRtaW4='}, NO_CREDENTIALS),
}


def assert_secrets_root(response, proxy_url):
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert list(body) == ROOT_KEYS
    for key, value in body.items():
        assert value == f'{proxy_url}{SECRETS_ROOT}{key}/'


@pytest.mark.parametrize('kind', list(GOOD_CREDENTIALS))
def test_token_credentials_are_accepted(kind, tokens, netbox_url, proxy_url):
    headers = GOOD_CREDENTIALS[kind](tokens)

    direct = fetch(netbox_url, '/api/authentication-check/', headers=headers)
    assert direct.status_code == 200

    assert_secrets_root(fetch(proxy_url, SECRETS_ROOT, headers=headers), proxy_url)


@pytest.mark.parametrize('kind', list(BAD_CREDENTIALS))
def test_bad_credentials_are_refused_like_netbox(kind, tokens, netbox_url, proxy_url):
    make_headers, expected_detail = BAD_CREDENTIALS[kind]
    headers = make_headers(tokens)

    direct = fetch(netbox_url, '/api/authentication-check/', headers=headers)
    assert direct.status_code == 403
    assert direct.json() == {'detail': expected_detail}

    proxied = fetch(proxy_url, SECRETS_ROOT, headers=headers)
    assert proxied.status_code == 403
    assert proxied.headers['Content-Type'].startswith('application/json')
    assert proxied.json() == {'detail': expected_detail}
    assert 'WWW-Authenticate' not in proxied.headers


def login(base_url, username, password):
    """Logs in through base_url's /login/ form and returns the requests session."""
    session = requests.Session()
    page = session.get(f'{base_url}/login/', timeout=TIMEOUT)
    assert page.status_code == 200
    form = {
        'csrfmiddlewaretoken': csrf_form_token(page.text),
        'username': username,
        'password': password,
        'next': '/',
    }
    response = session.post(f'{base_url}/login/', data=form, timeout=TIMEOUT, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    assert 'sessionid' in session.cookies
    return session


@pytest.mark.parametrize('username', ['admin', 'alice'])
def test_session_cookie_is_accepted(username, seed, proxy_url):
    session = login(proxy_url, username, seed['users'][username]['password'])

    check = session.get(f'{proxy_url}/api/authentication-check/', timeout=TIMEOUT)
    assert check.status_code == 200
    assert check.json()['username'] == username

    assert_secrets_root(session.get(f'{proxy_url}{SECRETS_ROOT}', timeout=TIMEOUT), proxy_url)


def test_session_cookie_beats_a_bad_token(seed, proxy_url):
    session = login(proxy_url, 'admin', seed['users']['admin']['password'])
    headers = auth('Token', 'garbage')

    response = session.get(f'{proxy_url}{SECRETS_ROOT}', headers=headers, timeout=TIMEOUT)

    assert_secrets_root(response, proxy_url)


def test_logged_out_session_is_refused(seed, proxy_url):
    session = login(proxy_url, 'alice', seed['users']['alice']['password'])
    cookies = session.cookies.copy()
    session.get(f'{proxy_url}/logout/', timeout=TIMEOUT, allow_redirects=False)

    response = requests.get(f'{proxy_url}{SECRETS_ROOT}', cookies=cookies, timeout=TIMEOUT)

    assert response.status_code == 403
    assert response.json() == {'detail': NO_CREDENTIALS}
