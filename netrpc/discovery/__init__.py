"""Discovery: advertising servers and finding them on the local network with mDNS / DNS-SD
(:mod:`.mdns`).  A server is given an advertiser; the advertiser knows nothing of servers.

May import: core.
"""
