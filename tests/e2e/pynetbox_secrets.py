"""A secrets client written the way pynetbox users write one, run unchanged against the proxy.

Usage: python pynetbox_secrets.py URL TOKEN PRIVATE_KEY_FILE DEVICE_ID ROLE_ID
Exits non-zero with a message when anything differs from what the plugin would return.
"""

import sys

import pynetbox
import requests


def main():
    url, token, key_file, device_id, role_id = sys.argv[1:6]
    with open(key_file) as handle:
        private_key = handle.read()

    nb = pynetbox.api(url, token=token)
    auth = f'Bearer {token}' if token.startswith('nbt_') else f'Token {token}'

    # Mint a session key with a plain HTTP call and attach it to pynetbox's session.
    response = requests.post(
        f'{url}/api/plugins/secrets/session-key/',
        headers={'Authorization': auth},
        json={'private_key': private_key, 'preserve_key': True},
        timeout=30,
    )
    response.raise_for_status()
    nb.http_session.headers['X-Session-Key'] = response.json()['session_key']

    secrets = nb.plugins.secrets.secrets
    before = secrets.count()

    created = secrets.create(
        assigned_object_type='dcim.device', assigned_object_id=int(device_id),
        role=int(role_id), name='pynetbox-made', plaintext='from pynetbox',
    )
    check(created.plaintext is None, 'create response must not echo the plaintext')

    fetched = secrets.get(created.id)
    check(fetched.plaintext == 'from pynetbox', f'read back {fetched.plaintext!r}')

    on_device = list(secrets.filter(assigned_object_type='dcim.device', assigned_object_id=int(device_id)))
    check(created.id in [item.id for item in on_device], 'filter by device misses the new secret')
    check(all(item.plaintext is not None for item in on_device), 'filtered secrets are not decrypted')

    check(secrets.count() == before + 1, 'count did not grow by one')

    # Page through everything two at a time; pynetbox follows the `next` links.
    paged = list(secrets.all(limit=2))
    check(len(paged) == before + 1, f'paging returned {len(paged)} of {before + 1} secrets')
    check(len({item.id for item in paged}) == len(paged), 'paging returned duplicates')

    fetched.description = 'changed by pynetbox'
    check(fetched.save(), 'save reported no change')
    check(secrets.get(created.id).description == 'changed by pynetbox', 'update was not stored')

    check(created.delete(), 'delete failed')
    print('pynetbox client: all checks passed')


def check(condition, message):
    if not condition:
        print(f'pynetbox client: {message}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
