"""The documented secrets workflow through the proxy, in front of a real NetBox.

These tests follow the curl commands of the user documentation, then the 3.1 paths, then the
access rules. A user granted by group decrypts and an ungranted user is rejected. A user who
cannot view a device does not see its secrets.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import fetch, token_header

API = '/api/plugins/secrets'
JSON_INDENT_4 = 'application/json; indent=4'
PYNETBOX_SCRIPT = Path(__file__).with_name('pynetbox_secrets.py')


def curl(*args):
    """Runs curl as the documentation does and returns (status, parsed JSON body or text)."""
    result = subprocess.run(
        ['curl', '--silent', '--show-error', '--write-out', '\n%{http_code}', *args],
        capture_output=True, text=True, timeout=60, check=True,
    )
    body, _, status = result.stdout.rpartition('\n')
    try:
        return int(status), json.loads(body), body
    except json.JSONDecodeError:
        return int(status), None, body


def api(proxy_url, path, token, method='GET', **kwargs):
    headers = {**token_header(token), **kwargs.pop('headers', {})}
    return fetch(proxy_url, f'{API}{path}', method=method, headers=headers, **kwargs)


@pytest.fixture(scope='module')
def admin_token(tokens):
    return tokens['ADMIN_V1']


@pytest.fixture(scope='module')
def admin_key(proxy_url, admin_token, tmp_path_factory):
    """Admin's key pair, registered as admin's user key (the first key makes the master key)."""
    pair = api(proxy_url, '/generate-rsa-key-pair/', admin_token)
    assert pair.status_code == 200, pair.text

    existing = api(proxy_url, '/user-keys/?user=admin', admin_token).json()
    assert existing['count'] == 0, 'the end-to-end tests expect a fresh proxy data directory'
    created = api(proxy_url, '/user-keys/', admin_token, 'POST', json={'public_key': pair.json()['public_key']})
    assert created.status_code == 201, created.text
    assert created.json()['is_active'] is True

    key_file = tmp_path_factory.mktemp('keys') / 'admin-key.json'
    key_file.write_text(json.dumps({'private_key': pair.json()['private_key']}))
    return {'private_key': pair.json()['private_key'], 'json_file': str(key_file)}


@pytest.fixture(scope='module')
def role(proxy_url, admin_token):
    response = api(
        proxy_url, '/secret-roles/', admin_token, 'POST',
        json={'name': 'Login Credentials', 'slug': 'login-creds'},
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope='module')
def admin_session_key(proxy_url, admin_token, admin_key):
    """A session key minted with the documented curl command on the old session-keys/ path."""
    status, body, text = curl(
        '-X', 'POST', f'{proxy_url}{API}/session-keys/',
        '-H', f'Authorization: Token {admin_token}',
        '-H', f'Accept: {JSON_INDENT_4}',
        '-H', 'Content-Type: application/json',
        '--data', f'@{admin_key["json_file"]}',
    )
    assert status == 201, text
    assert list(body) == ['pk', 'id', 'url', 'display', 'userkey', 'session_key', 'created']
    assert body['display'] == 'admin (RSA)'
    assert '\n    "pk": ' in text, 'indent=4 must pretty-print the body'
    return body['session_key']


@pytest.fixture(scope='module')
def device(seed):
    return seed['devices']['ref-dev-1']


@pytest.fixture(scope='module')
def created_secret(proxy_url, admin_token, admin_session_key, role, device):
    """Creates a secret with the documented curl command on the old /api/secrets/ prefix."""
    payload = {
        'assigned_object_id': device['id'], 'assigned_object_type': 'dcim.device',
        'role': role['id'], 'name': 'backup', 'plaintext': 'Drowssap1',
    }
    status, body, text = curl(
        '-X', 'POST', f'{proxy_url}/api/secrets/secrets/',
        '-H', 'Content-Type: application/json',
        '-H', f'Authorization: Token {admin_token}',
        '-H', f'Accept: {JSON_INDENT_4}',
        '-H', f'X-Session-Key: {admin_session_key}',
        '--data', json.dumps(payload),
    )
    assert status == 201, text
    return body


def test_created_secret_has_plugin_fields(created_secret, proxy_url, device):
    assert list(created_secret) == [
        'id', 'url', 'display', 'assigned_object_type', 'assigned_object_id', 'assigned_object',
        'role', 'name', 'plaintext', 'hash', 'description', 'comments', 'tags', 'custom_fields',
        'created', 'last_updated',
    ]
    assert created_secret['plaintext'] is None
    assert created_secret['hash'].startswith('pbkdf2_sha256$1000$')
    assert created_secret['url'] == f'{proxy_url}{API}/secrets/{created_secret["id"]}/'
    assigned = created_secret['assigned_object']
    assert assigned['id'] == device['id']
    assert assigned['name'] == 'ref-dev-1'
    assert assigned['url'] == f'{proxy_url}/api/dcim/devices/{device["id"]}/'


def test_read_without_session_key_hides_plaintext(created_secret, proxy_url, admin_token):
    status, body, text = curl(
        f'{proxy_url}{API}/secrets/{created_secret["id"]}/',
        '-H', f'Authorization: Token {admin_token}',
        '-H', f'Accept: {JSON_INDENT_4}',
    )
    assert status == 200, text
    assert body['plaintext'] is None


def test_read_with_session_key_decrypts(created_secret, proxy_url, admin_token, admin_session_key):
    status, body, text = curl(
        f'{proxy_url}{API}/secrets/{created_secret["id"]}/',
        '-H', f'Authorization: Token {admin_token}',
        '-H', f'Accept: {JSON_INDENT_4}',
        '-H', f'X-Session-Key: {admin_session_key}',
    )
    assert status == 200, text
    assert body['plaintext'] == 'Drowssap1'


def test_list_with_limit_pages_on_proxy_host(
    created_secret, proxy_url, admin_token, admin_session_key, role, seed,
):
    for index in range(4):
        response = api(
            proxy_url, '/secrets/', admin_token, 'POST',
            headers={'X-Session-Key': admin_session_key},
            json={
                'assigned_object_type': 'virtualization.virtualmachine',
                'assigned_object_id': seed['virtual_machines']['ref-vm-1']['id'],
                'role': {'slug': role['slug']}, 'name': f'page-{index}', 'plaintext': f'value-{index}',
            },
        )
        assert response.status_code == 201, response.text

    status, body, text = curl(
        f'{proxy_url}{API}/secrets/?limit=3',
        '-H', f'Authorization: Token {admin_token}',
        '-H', f'Accept: {JSON_INDENT_4}',
        '-H', f'X-Session-Key: {admin_session_key}',
    )
    assert status == 200, text
    assert body['count'] >= 5
    assert len(body['results']) == 3
    assert body['next'] == f'{proxy_url}{API}/secrets/?limit=3&offset=3'
    assert body['previous'] is None
    assert all(item['plaintext'] is not None for item in body['results'])


def test_list_by_assigned_object(created_secret, proxy_url, admin_token, admin_session_key, device):
    status, body, text = curl(
        f'{proxy_url}{API}/secrets/?assigned_object_type=dcim.device&assigned_object_id={device["id"]}',
        '-H', f'Authorization: Token {admin_token}',
        '-H', f'X-Session-Key: {admin_session_key}',
    )
    assert status == 200, text
    assert [item['name'] for item in body['results']] == ['backup']
    assert body['results'][0]['plaintext'] == 'Drowssap1'


def test_misspelt_filter_is_rejected(created_secret, proxy_url, admin_token):
    response = api(proxy_url, '/secrets/?assigned_object_idd=1', admin_token)
    assert response.status_code == 400
    assert 'assigned_object_idd' in response.json()


@pytest.fixture(scope='module')
def netbox_tag(netbox_url, admin_token):
    """A tag made in NetBox itself; NetBox's database outlives one test run, so it may exist."""
    slug = 'e2e-credentials'
    found = fetch(netbox_url, f'/api/extras/tags/?slug={slug}', headers=token_header(admin_token))
    assert found.status_code == 200, found.text
    if found.json()['count']:
        return found.json()['results'][0]

    created = fetch(
        netbox_url, '/api/extras/tags/', 'POST', headers=token_header(admin_token),
        json={'name': 'E2E Credentials', 'slug': slug},
    )
    assert created.status_code == 201, created.text
    return created.json()


def test_tag_filters_use_netbox_tags(created_secret, proxy_url, admin_token, admin_session_key, netbox_tag):
    tagged = api(
        proxy_url, f'/secrets/{created_secret["id"]}/', admin_token, 'PATCH',
        headers={'X-Session-Key': admin_session_key}, json={'tags': [{'slug': netbox_tag['slug']}]},
    )
    assert tagged.status_code == 200, tagged.text
    assert [tag['id'] for tag in tagged.json()['tags']] == [netbox_tag['id']]

    listed = api(proxy_url, f'/secrets/?tag={netbox_tag["slug"]}', admin_token)
    assert listed.status_code == 200, listed.text
    assert [item['name'] for item in listed.json()['results']] == ['backup']

    unknown = api(proxy_url, '/secrets/?tag=no-such-tag-e2e', admin_token)
    assert unknown.status_code == 400, unknown.text
    assert unknown.json() == {
        'tag': ['Select a valid choice. no-such-tag-e2e is not one of the available choices.'],
    }


def test_renamed_tag_is_found_by_new_slug(
        created_secret, proxy_url, netbox_url, admin_token, admin_session_key, netbox_tag):
    tagged = api(
        proxy_url, f'/secrets/{created_secret["id"]}/', admin_token, 'PATCH',
        headers={'X-Session-Key': admin_session_key}, json={'tags': [netbox_tag['id']]},
    )
    assert tagged.status_code == 200, tagged.text

    tag_path = f'/api/extras/tags/{netbox_tag["id"]}/'
    renamed_slug = f'{netbox_tag["slug"]}-renamed'
    renamed = fetch(netbox_url, tag_path, 'PATCH', headers=token_header(admin_token), json={'slug': renamed_slug})
    assert renamed.status_code == 200, renamed.text
    try:
        by_new_slug = api(proxy_url, f'/secrets/?tag={renamed_slug}', admin_token)
        by_old_slug = api(proxy_url, f'/secrets/?tag={netbox_tag["slug"]}', admin_token)
    finally:
        restored = fetch(
            netbox_url, tag_path, 'PATCH', headers=token_header(admin_token), json={'slug': netbox_tag['slug']},
        )
        assert restored.status_code == 200, restored.text

    assert by_new_slug.status_code == 200, by_new_slug.text
    assert [item['name'] for item in by_new_slug.json()['results']] == ['backup']
    assert by_old_slug.status_code == 400, by_old_slug.text


def test_bad_session_key_is_rejected(created_secret, proxy_url, admin_token):
    response = api(
        proxy_url, f'/secrets/{created_secret["id"]}/', admin_token,
        headers={'X-Session-Key': 'd3Jvbmcta2V5'},
    )
    assert response.status_code == 400
    assert response.json() == ['Invalid session key.']


def test_write_without_session_key_is_rejected(created_secret, proxy_url, admin_token):
    response = api(
        proxy_url, f'/secrets/{created_secret["id"]}/', admin_token, 'PATCH', json={'plaintext': 'x'},
    )
    assert response.status_code == 400
    assert response.json() == ['A session key must be provided when creating or updating secrets.']


def test_session_key_31_path_preserves_key(proxy_url, admin_token, admin_key, admin_session_key):
    response = api(
        proxy_url, '/session-key/', admin_token, 'POST',
        json={'private_key': admin_key['private_key'], 'preserve_key': True},
    )
    assert response.status_code == 200, response.text
    assert response.json()['session_key'] == admin_session_key
    assert list(response.json()) == ['id', 'userkey', 'session_key', 'created']

    shown = api(proxy_url, '/session-key/', admin_token)
    assert shown.status_code == 200
    assert shown.json()['session_key'] is None


def test_session_key_errors_are_plain_text(proxy_url, admin_token):
    response = api(proxy_url, '/session-key/', admin_token, 'POST', json={'private_key': 'garbage'})
    assert response.status_code == 400
    assert response.headers['Content-Type'].startswith('text/html')
    assert response.text == 'Invalid private key.'


@pytest.fixture(scope='module')
def alice_session_key(proxy_url, tokens, admin_token, admin_key, created_secret):
    """Alice registers a key, admin activates it on the 3.1 path, alice mints a session key."""
    alice_token = tokens['ALICE_V2']
    pair = api(proxy_url, '/generate-rsa-key-pair/', alice_token).json()
    created = api(proxy_url, '/user-keys/', alice_token, 'POST', json={'public_key': pair['public_key']})
    assert created.status_code == 201, created.text
    assert created.json()['is_active'] is False

    activated = api(
        proxy_url, '/user-keys/activate/', admin_token, 'POST',
        json={'private_key': admin_key['private_key'], 'user_key_ids': [created.json()['id']]},
    )
    assert activated.status_code == 200, activated.text
    assert activated.json()['activated_keys'] == [created.json()['id']]

    session = api(proxy_url, '/session-key/', alice_token, 'POST', json={'private_key': pair['private_key']})
    assert session.status_code == 201, session.text
    return session.json()['session_key']


def test_group_grant_lets_alice_decrypt(created_secret, proxy_url, tokens, alice_session_key):
    response = api(
        proxy_url, f'/secrets/{created_secret["id"]}/', tokens['ALICE_V2'],
        headers={'X-Session-Key': alice_session_key},
    )
    assert response.status_code == 200, response.text
    assert response.json()['plaintext'] == 'Drowssap1'


def test_ungranted_user_is_refused(created_secret, proxy_url, tokens):
    response = api(proxy_url, '/secrets/', tokens['BOB_V2'])
    assert response.status_code == 403
    assert response.json() == {'detail': 'You do not have permission to perform this action.'}


def test_read_only_token_cannot_write(created_secret, proxy_url, tokens):
    # Alice's group may add user keys, so only the token's read-only flag can refuse this.
    pair = api(proxy_url, '/generate-rsa-key-pair/', tokens['ALICE_V2_READONLY']).json()
    response = api(
        proxy_url, '/user-keys/', tokens['ALICE_V2_READONLY'], 'POST',
        json={'public_key': pair['public_key']},
    )
    assert response.status_code == 403, response.text
    assert response.json() == {'detail': 'You do not have permission to perform this action.'}


def test_hidden_device_hides_its_secrets(
    created_secret, proxy_url, tokens, admin_token, admin_session_key, role, seed, alice_session_key,
):
    hidden = seed['devices']['ref-dev-3']
    assert hidden['visible_to_alice'] is False
    response = api(
        proxy_url, '/secrets/', admin_token, 'POST',
        headers={'X-Session-Key': admin_session_key},
        json={
            'assigned_object_type': 'dcim.device', 'assigned_object_id': hidden['id'],
            'role': role['id'], 'name': 'site-b-only', 'plaintext': 'hidden-value',
        },
    )
    assert response.status_code == 201, response.text
    secret_id = response.json()['id']

    listed = api(proxy_url, '/secrets/?limit=0', tokens['ALICE_V2']).json()
    assert secret_id not in [item['id'] for item in listed['results']]
    assert api(proxy_url, f'/secrets/{secret_id}/', tokens['ALICE_V2']).status_code == 404

    as_admin = api(proxy_url, '/secrets/?limit=0', admin_token).json()
    assert secret_id in [item['id'] for item in as_admin['results']]


def test_pynetbox_client_runs_unchanged(proxy_url, admin_token, admin_key, role, device, tmp_path):
    key_file = tmp_path / 'admin.pem'
    key_file.write_text(admin_key['private_key'])

    result = subprocess.run(
        [
            sys.executable, str(PYNETBOX_SCRIPT), proxy_url, admin_token, str(key_file),
            str(device['id']), str(role['id']),
        ],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
