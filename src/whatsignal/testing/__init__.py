"""Contract-faithful in-process simulators of WAHA and signal-cli-rest-api.

Used by the test suite, by ``python -m whatsignal demo``, and by anyone embedding the bridge
who wants to try it without a phone. See docs/simulators.md.
"""
