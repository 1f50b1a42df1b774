import { setupManifest } from '@start9labs/start-sdk'

/**
 * The StartOS 0.4 manifest. Same package id, volume and image as the 0.3.5 package
 * (manifest.yaml), so a box moving from the legacy package to this one keeps its data.
 * The version lives in versions/current.ts.
 */
export const manifest = setupManifest({
  id: 'ir-mail-desk',
  title: 'IR Mail Desk',
  license: 'MIT',
  packageRepo: 'https://github.com/ir-mail-desk/ir-mail-desk-startos',
  upstreamRepo: 'https://github.com/ir-mail-desk/ir-mail-desk',
  marketingUrl: 'https://github.com/ir-mail-desk/ir-mail-desk',
  donationUrl: null,
  description: {
    short: 'Investor-relations email capture, CRM approvals and a daily digest',
    long:
      "Reads the team's Gmail through Google Workspace delegation, matches each email to the " +
      "fund's investors and proposes CRM activity for an admin to approve. Replies are saved " +
      'as Gmail drafts for a person to send; the only mail it sends is one internal digest a ' +
      "day to the fund's admins. Mail stays on this server; summaries come from the fund's " +
      'own local language model.',
  },
  volumes: ['main'],
  images: {
    main: {
      source: { dockerBuild: { dockerfile: 'Dockerfile', workdir: '.' } },
      arch: ['x86_64', 'aarch64'],
    },
  },
  dependencies: {},
})
