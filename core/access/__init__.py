"""Who may do what: the users of the built-in login with their role and companies, `authorize` (the check every
write in core makes on its acting user), and sign-in throttling.

May import: the shared leaves only.
"""
