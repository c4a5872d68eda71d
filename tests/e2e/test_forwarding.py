"""Ordinary traffic through the proxy matches direct NetBox access apart from per-request values."""

import re

import pytest

from helpers import fetch, normalize_page, swap_host, token_header, url_fields

# Headers that legitimately differ between two requests, or between two hops.
PER_REQUEST_HEADERS = {
    'date',
    'x-request-id',
    'content-length',
    'transfer-encoding',
    'connection',
    'keep-alive',
    'set-cookie',
}

COOKIE_VALUE = re.compile(r'^([^=;]+)=[^;]*')
COOKIE_EXPIRES = re.compile(r'(?i)(expires=)[^;]*')

ALLOWED_IPS_DETAIL = 'Source IP 127.0.0.1 is not permitted to authenticate using this token.'


def comparable_headers(response):
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in PER_REQUEST_HEADERS
    }


def cookie_shapes(response):
    """Set-Cookie headers with the values and expiry dates masked, sorted by cookie name."""
    shapes = []
    for header in response.raw.headers.getlist('Set-Cookie'):
        masked = COOKIE_VALUE.sub(r'\1=<value>', header)
        shapes.append(COOKIE_EXPIRES.sub(r'\1<date>', masked))
    return sorted(shapes)


def assert_same_response(direct, proxied, netbox_url, proxy_url):
    assert proxied.status_code == direct.status_code
    assert comparable_headers(proxied) == comparable_headers(direct)
    assert cookie_shapes(proxied) == cookie_shapes(direct)
    if direct.headers.get('Content-Type', '').startswith('application/json'):
        assert proxied.json() == swap_host(direct.json(), netbox_url, proxy_url)
    else:
        assert normalize_page(proxied.text, proxy_url, proxy_url) == normalize_page(
            direct.text, netbox_url, proxy_url
        )


def test_login_page_matches_direct(netbox_url, proxy_url):
    direct = fetch(netbox_url, '/login/')
    proxied = fetch(proxy_url, '/login/')

    assert direct.status_code == 200
    assert 'csrftoken' in proxied.cookies
    assert_same_response(direct, proxied, netbox_url, proxy_url)


def test_anonymous_api_request_matches_direct(netbox_url, proxy_url):
    direct = fetch(netbox_url, '/api/dcim/devices/')
    proxied = fetch(proxy_url, '/api/dcim/devices/')

    assert direct.status_code == 403
    assert_same_response(direct, proxied, netbox_url, proxy_url)


@pytest.mark.parametrize(
    'path',
    [
        '/api/status/',
        '/api/dcim/devices/',
        '/api/dcim/devices/?limit=1',
        '/api/dcim/devices/{dev1}/',
        '/api/dcim/devices/{dev1}/?brief=1',
        '/api/virtualization/virtual-machines/{vm1}/',
        '/api/dcim/devices/999999/',
    ],
)
def test_api_read_matches_direct(path, seed, tokens, netbox_url, proxy_url):
    path = path.format(dev1=seed['devices']['ref-dev-1']['id'], vm1=seed['virtual_machines']['ref-vm-1']['id'])
    headers = token_header(tokens['ADMIN_V2'])

    direct = fetch(netbox_url, path, headers=headers)
    proxied = fetch(proxy_url, path, headers=headers)

    assert direct.status_code in (200, 404)
    assert_same_response(direct, proxied, netbox_url, proxy_url)


def test_url_fields_carry_the_proxy_host(tokens, proxy_url):
    response = fetch(proxy_url, '/api/dcim/devices/?limit=1', headers=token_header(tokens['ADMIN_V2']))

    assert response.status_code == 200
    body = response.json()
    assert body['next'] == f'{proxy_url}/api/dcim/devices/?limit=1&offset=1'
    urls = url_fields(body)
    assert urls, 'the device list has no url fields'
    for key, value in urls:
        if value is not None:
            assert value.startswith(f'{proxy_url}/'), f'{key} = {value}'


def test_client_forwarded_headers_do_not_reach_netbox(tokens, proxy_url):
    headers = {
        **token_header(tokens['ADMIN_V2']),
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-For': '127.0.0.2',
        'X-Real-IP': '127.0.0.2',
    }

    response = fetch(proxy_url, '/api/dcim/devices/?limit=1', headers=headers)

    assert response.status_code == 200
    for key, value in url_fields(response.json()):
        if value is not None:
            assert value.startswith(f'{proxy_url}/'), f'{key} = {value}'


def test_allowed_ips_token_direct(tokens, netbox_url):
    headers = token_header(tokens['ADMIN_V2_ALLOWED_IPS'])

    refused = fetch(netbox_url, '/api/authentication-check/', headers=headers)
    accepted = fetch(netbox_url, '/api/authentication-check/', headers={**headers, 'X-Forwarded-For': '127.0.0.2'})

    assert refused.status_code == 403
    assert refused.json() == {'detail': ALLOWED_IPS_DETAIL}
    assert accepted.status_code == 200


@pytest.mark.parametrize('path', ['/api/status/', '/api/authentication-check/', '/api/plugins/secrets/'])
def test_spoofed_client_ip_rejected(path, tokens, proxy_url):
    headers = {
        **token_header(tokens['ADMIN_V2_ALLOWED_IPS']),
        'X-Forwarded-For': '127.0.0.2',
        'X-Real-IP': '127.0.0.2',
    }

    response = fetch(proxy_url, path, headers=headers)

    assert response.status_code == 403
    assert response.json() == {'detail': ALLOWED_IPS_DETAIL}


def test_constrained_user_sees_same_devices(seed, tokens, netbox_url, proxy_url):
    headers = token_header(tokens['ALICE_V2'])

    direct = fetch(netbox_url, '/api/dcim/devices/', headers=headers).json()
    proxied = fetch(proxy_url, '/api/dcim/devices/', headers=headers).json()

    visible = sorted(name for name, dev in seed['devices'].items() if dev['visible_to_alice'])
    assert sorted(dev['name'] for dev in proxied['results']) == visible
    assert proxied == swap_host(direct, netbox_url, proxy_url)


def test_hidden_device_is_404_through_the_proxy(seed, tokens, proxy_url):
    device = seed['devices']['ref-dev-3']
    response = fetch(proxy_url, f"/api/dcim/devices/{device['id']}/", headers=token_header(tokens['ALICE_V2']))

    assert response.status_code == 404
    assert response.json() == {'detail': 'No Device matches the given query.'}
