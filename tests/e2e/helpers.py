"""Helpers for the end-to-end tests: headers, requests and response normalisation."""

import re

import requests

TIMEOUT = 30


def auth(kind, value):
    """Returns the Authorization header for a token value under the given keyword."""
    return {'Authorization': f'{kind} {value}'}


def token_header(value):
    """The header NetBox documents for a token value: Bearer for v2, Token for v1."""
    return auth('Bearer' if value.startswith('nbt_') else 'Token', value)


def fetch(base_url, path, method='GET', **kwargs):
    kwargs.setdefault('timeout', TIMEOUT)
    kwargs.setdefault('allow_redirects', False)
    return requests.request(method, f'{base_url}{path}', **kwargs)


def swap_host(value, old_base, new_base):
    """Replaces old_base at the start of every string inside a JSON value."""
    if isinstance(value, dict):
        return {key: swap_host(item, old_base, new_base) for key, item in value.items()}
    if isinstance(value, list):
        return [swap_host(item, old_base, new_base) for item in value]
    if isinstance(value, str) and value.startswith(old_base):
        return new_base + value[len(old_base):]
    return value


def url_fields(value, found=None):
    """Collects every (key, string) pair whose key is url, display_url, next or previous."""
    if found is None:
        found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ('url', 'display_url', 'next', 'previous') and isinstance(item, str):
                found.append((key, item))
            else:
                url_fields(item, found)
    elif isinstance(value, list):
        for item in value:
            url_fields(item, found)
    return found


CSRF_FORM_FIELD = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+(")')
CSRF_SCRIPT_VALUE = re.compile(r'(CSRF_TOKEN = ")[^"]+(")')


def normalize_page(text, old_base, new_base):
    """Masks the per-request CSRF values of an HTML page and moves its links to new_base."""
    text = CSRF_FORM_FIELD.sub(r'\1<csrf>\2', text)
    text = CSRF_SCRIPT_VALUE.sub(r'\1<csrf>\2', text)
    return text.replace(old_base, new_base)


def csrf_form_token(html):
    match = CSRF_FORM_FIELD.search(html)
    assert match, 'the login page has no csrfmiddlewaretoken field'
    return match.group(0).split('value="', 1)[1].rstrip('"')
