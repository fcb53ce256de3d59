// Compiles every model of models/corpus with the real CAP compiler and writes what it
// produces next to the sources: csn.json, schema.postgres.sql, schema.sqlite.sql and
// <Service>.edmx.xml for each service. A test oracle only; the product never runs Node.js.
'use strict'
const fs = require('fs')
const path = require('path')
const cds = require('@sap/cds')

const corpus = path.resolve(__dirname, '../../models/corpus')

function cdsFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return cdsFiles(full)
    return entry.name.endsWith('.cds') ? [full] : []
  }).sort()
}

function sqlScript(csn, dialect) {
  const statements = cds.compile.to.sql(csn, { dialect })
  return statements.map((s) => s.trim().replace(/;$/, '') + ';').join('\n\n') + '\n'
}

async function compileVersion(dir) {
  for (const stale of fs.readdirSync(dir)) {
    if (stale.endsWith('.edmx.xml')) fs.unlinkSync(path.join(dir, stale))
  }
  const csn = await cds.load(cdsFiles(path.join(dir, 'src')))
  fs.writeFileSync(path.join(dir, 'csn.json'), cds.compile.to.json(csn) + '\n')
  fs.writeFileSync(path.join(dir, 'schema.postgres.sql'), sqlScript(csn, 'postgres'))
  fs.writeFileSync(path.join(dir, 'schema.sqlite.sql'), sqlScript(csn, 'sqlite'))
  const services = Object.entries(csn.definitions)
    .filter(([, def]) => def.kind === 'service' && !def['@cds.external'])
    .map(([name]) => name)
  for (const service of services) {
    const edmx = cds.compile.to.edmx(csn, { service })
    fs.writeFileSync(path.join(dir, `${service}.edmx.xml`), edmx.trim() + '\n')
  }
}

async function main() {
  const only = process.argv.slice(2)
  const models = fs.readdirSync(corpus, { withFileTypes: true })
    .filter((e) => e.isDirectory() && (only.length === 0 || only.includes(e.name)))
    .map((e) => e.name).sort()
  let failed = 0
  for (const model of models) {
    for (const version of ['v1', 'v2']) {
      const dir = path.join(corpus, model, version)
      if (!fs.existsSync(dir)) continue
      try {
        await compileVersion(dir)
      } catch (e) {
        failed++
        console.error(`${model}/${version}: ${e.message}`)
      }
    }
  }
  if (failed) process.exit(1)
  console.log(`compiled ${models.length} models`)
}

main()
