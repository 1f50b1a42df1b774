"""The CRM domain: users, investors and contacts, the directory the matcher uses, proposals
(propose → approve) and the audit log."""
