// supabase-js's storage client, unchanged, against a Supabase-compatible target.
//
// Run by tests/conformance/test_storage_js.py with SUPABASE_URL,
// SUPABASE_SERVICE_ROLE_KEY and SUPABASE_ANON_KEY pointing at the stack:
//
//   node --test storage.test.mjs
//
// (Node 20 needs --experimental-websocket: supabase-js builds its realtime
// client eagerly and wants a global WebSocket. The pytest wrapper adds it.)
//
// Expectations come from the real Storage API (shared/reference/storage-api.md):
// errors arrive as HTTP 400 with the semantic status in the body's statusCode,
// which storage-js exposes as error.statusCode (error.status is the HTTP status).

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createClient } from '@supabase/supabase-js'

const URL_ = requireEnv('SUPABASE_URL').replace(/\/+$/, '')
const SERVICE_KEY = requireEnv('SUPABASE_SERVICE_ROLE_KEY')
const ANON_KEY = requireEnv('SUPABASE_ANON_KEY')
const OPTIONS = { auth: { persistSession: false, autoRefreshToken: false } }

const admin = createClient(URL_, SERVICE_KEY, OPTIONS)
const anon = createClient(URL_, ANON_KEY, OPTIONS)

function requireEnv(name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} must be set`)
  return value
}

function uniqueName(tag) {
  return `js-${tag}-${randomUUID().replace(/-/g, '').slice(0, 10)}`
}

function ok({ data, error }) {
  assert.equal(error, null, `unexpected error: ${error && JSON.stringify(error)}`)
  return data
}

function failed({ data, error }, statusCode, message) {
  assert.equal(data, null)
  assert.ok(error, 'expected an error')
  assert.equal(error.name, 'StorageApiError')
  assert.equal(error.statusCode, statusCode, JSON.stringify(error))
  if (message !== undefined) assert.equal(error.message, message)
  return error
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')
const md5 = (bytes) => createHash('md5').update(bytes).digest('hex')

async function blobBytes(blob) {
  return Buffer.from(await blob.arrayBuffer())
}

async function dropBucket(id) {
  try {
    await admin.storage.emptyBucket(id)
    await admin.storage.deleteBucket(id)
  } catch {
    // best effort
  }
}

const created = []
async function makeBucket(tag, options = { public: false }) {
  const id = uniqueName(tag)
  created.push(id)
  assert.deepEqual(ok(await admin.storage.createBucket(id, options)), { name: id })
  return id
}

after(async () => {
  for (const id of created) await dropBucket(id)
})

describe('buckets', () => {
  test('create, get, list, update, empty, delete', async () => {
    const id = await makeBucket('bucket', {
      public: false,
      fileSizeLimit: 1024,
      allowedMimeTypes: ['text/plain', 'image/png'],
    })

    const bucket = ok(await admin.storage.getBucket(id))
    assert.equal(bucket.id, id)
    assert.equal(bucket.name, id)
    assert.equal(bucket.public, false)
    assert.equal(bucket.file_size_limit, 1024)
    assert.deepEqual(bucket.allowed_mime_types, ['text/plain', 'image/png'])
    assert.equal(bucket.owner, '')
    assert.match(bucket.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/)

    const listed = ok(await admin.storage.listBuckets())
    assert.ok(Array.isArray(listed))
    const mine = listed.find((b) => b.id === id)
    assert.ok(mine, 'the new bucket is listed')
    assert.equal(mine.file_size_limit, 1024)

    const searched = ok(await admin.storage.listBuckets({ search: id.slice(-10) }))
    assert.deepEqual(searched.map((b) => b.id), [id])

    assert.deepEqual(
      ok(await admin.storage.updateBucket(id, { public: true, fileSizeLimit: 2048 })),
      { message: 'Successfully updated' },
    )
    const updated = ok(await admin.storage.getBucket(id))
    assert.equal(updated.public, true)
    assert.equal(updated.file_size_limit, 2048)
    // nothing to change (storage-js sends only id and name): the real schema's anyOf
    const nothing = failed(
      await admin.storage.updateBucket(id, {}),
      '400',
      "body must have required property 'public', " +
        "body must have required property 'file_size_limit', " +
        "body must have required property 'allowed_mime_types', " +
        'body must match a schema in anyOf',
    )
    assert.equal(nothing.status, 400)
    assert.equal(nothing.code, 'InvalidRequest')

    ok(await admin.storage.from(id).upload('a.txt', Buffer.from('a'), { contentType: 'text/plain' }))
    const notEmpty = failed(await admin.storage.deleteBucket(id), '409')
    assert.equal(notEmpty.status, 400) // the real service's HTTP status for handled errors

    assert.deepEqual(ok(await admin.storage.emptyBucket(id)), {
      message: 'Empty bucket has been queued. Completion may take up to an hour.',
    })
    assert.deepEqual(ok(await admin.storage.from(id).list()), [])
    assert.deepEqual(ok(await admin.storage.deleteBucket(id)), { message: 'Successfully deleted' })

    const gone = failed(await admin.storage.getBucket(id), '404', 'Bucket not found')
    assert.equal(gone.status, 400)
    assert.equal(gone.code, 'NoSuchBucket')
  })

  test('duplicate bucket', async () => {
    const id = await makeBucket('dup')
    const error = failed(
      await admin.storage.createBucket(id),
      '409',
      'The resource already exists',
    )
    assert.equal(error.code, 'BucketAlreadyExists')
  })

  test('emptyBucket needs the service role', async () => {
    const id = await makeBucket('empty-role')
    const error = failed(await anon.storage.emptyBucket(id), '403', 'Access denied: Invalid role')
    assert.equal(error.status, 403)
  })
})

describe('objects', () => {
  let bucket
  before(async () => {
    bucket = await makeBucket('objects')
  })

  test('upload a Buffer (raw body) with options, then info and download', async () => {
    const body = Buffer.from('{"hello":"js"}')
    const res = ok(
      await admin.storage.from(bucket).upload('raw/hello.json', body, {
        contentType: 'application/json',
        cacheControl: '120',
        metadata: { team: 'qa', n: 2 },
      }),
    )
    assert.equal(res.path, 'raw/hello.json')
    assert.equal(res.fullPath, `${bucket}/raw/hello.json`)
    assert.match(res.id, /^[0-9a-f-]{36}$/)

    const info = ok(await admin.storage.from(bucket).info('raw/hello.json'))
    assert.equal(info.name, 'raw/hello.json')
    assert.equal(info.bucketId, bucket)
    assert.equal(info.size, body.length)
    assert.equal(info.contentType, 'application/json')
    assert.equal(info.cacheControl, 'max-age=120')
    assert.deepEqual(info.metadata, { team: 'qa', n: 2 })
    assert.equal(info.etag.replace(/"/g, ''), md5(body))

    const blob = ok(await admin.storage.from(bucket).download('raw/hello.json'))
    assert.deepEqual(await blobBytes(blob), body)
  })

  test('upload a Blob (multipart)', async () => {
    const bytes = randomBytes(50_000)
    const blob = new Blob([bytes], { type: 'image/png' })
    ok(await admin.storage.from(bucket).upload('multi/pic.png', blob, { cacheControl: '30' }))
    const info = ok(await admin.storage.from(bucket).info('multi/pic.png'))
    assert.equal(info.contentType, 'image/png')
    assert.equal(info.cacheControl, 'max-age=30')
    assert.equal(info.size, bytes.length)
    const down = ok(await admin.storage.from(bucket).download('multi/pic.png'))
    assert.equal(sha256(await blobBytes(down)), sha256(bytes))
  })

  test('duplicate upload, upsert and update', async () => {
    const files = admin.storage.from(bucket)
    ok(await files.upload('dup.txt', Buffer.from('v1'), { contentType: 'text/plain' }))
    const dup = failed(
      await files.upload('dup.txt', Buffer.from('v2'), { contentType: 'text/plain' }),
      '409',
      'The resource already exists',
    )
    assert.equal(dup.code, 'KeyAlreadyExists')
    ok(await files.upload('dup.txt', Buffer.from('v3'), { contentType: 'text/plain', upsert: true }))
    assert.equal((await blobBytes(ok(await files.download('dup.txt')))).toString(), 'v3')
    ok(await files.update('dup.txt', Buffer.from('v4'), { contentType: 'text/csv' }))
    assert.equal((await blobBytes(ok(await files.download('dup.txt')))).toString(), 'v4')
    assert.equal(ok(await files.info('dup.txt')).contentType, 'text/csv')
  })

  test('exists and missing objects', async () => {
    const files = admin.storage.from(bucket)
    ok(await files.upload('here.txt', Buffer.from('here'), { contentType: 'text/plain' }))
    assert.equal((await files.exists('here.txt')).data, true)
    const missing = await files.exists('not-here.txt')
    assert.equal(missing.data, false)

    const info = failed(await files.info('not-here.txt'), '404', 'Object not found')
    assert.equal(info.code, 'NoSuchKey')
    const down = failed(await files.download('not-here.txt'), '404', 'Object not found')
    assert.equal(down.status, 400)
  })

  test('move, copy and remove', async () => {
    const files = admin.storage.from(bucket)
    ok(await files.upload('mv/src.txt', Buffer.from('move me'), { contentType: 'text/plain' }))
    ok(await files.upload('mv/taken.txt', Buffer.from('taken'), { contentType: 'text/plain' }))

    assert.deepEqual(ok(await files.move('mv/src.txt', 'mv/dst.txt')), {
      message: 'Successfully moved',
    })
    assert.equal((await files.exists('mv/src.txt')).data, false)
    const conflict = failed(await files.move('mv/dst.txt', 'mv/taken.txt'), '409')
    assert.equal(conflict.code, 'ResourceAlreadyExists')

    assert.deepEqual(ok(await files.copy('mv/dst.txt', 'mv/copy.txt')), {
      path: `${bucket}/mv/copy.txt`,
    })
    assert.equal((await blobBytes(ok(await files.download('mv/copy.txt')))).toString(), 'move me')
    assert.equal((await blobBytes(ok(await files.download('mv/dst.txt')))).toString(), 'move me')

    const removed = ok(await files.remove(['mv/dst.txt', 'mv/copy.txt', 'mv/never.txt']))
    assert.deepEqual(removed.map((r) => r.name).sort(), ['mv/copy.txt', 'mv/dst.txt'])
    // the service key has no sub: owner and owner_id are strings, empty (objectSchema's)
    for (const row of removed) {
      assert.equal(row.owner, '')
      assert.equal(row.owner_id, '')
      assert.equal(row.bucket_id, bucket)
    }
    const left = ok(await files.list('mv'))
    assert.deepEqual(left.map((e) => e.name), ['taken.txt'])
  })
})

describe('listing', () => {
  let bucket
  before(async () => {
    bucket = await makeBucket('list')
    const files = admin.storage.from(bucket)
    for (const key of ['c.txt', 'b/x.txt', 'a.txt', 'b/y.txt', 'b/deep/z.txt', 'd/w.txt']) {
      ok(await files.upload(key, Buffer.from(`content of ${key}`), { contentType: 'text/plain' }))
    }
  })

  test('list: root, folder entries, prefix, search, limit/offset, sortBy', async () => {
    const files = admin.storage.from(bucket)
    const root = ok(await files.list())
    assert.deepEqual(root.map((e) => e.name), ['a.txt', 'b', 'c.txt', 'd'])
    const folder = root.find((e) => e.name === 'b')
    assert.equal(folder.id, null)
    assert.equal(folder.metadata, null)
    const file = root.find((e) => e.name === 'a.txt')
    assert.ok(file.id)
    assert.equal(file.metadata.size, 'content of a.txt'.length)
    assert.equal(file.metadata.mimetype, 'text/plain')

    assert.deepEqual(ok(await files.list('b')).map((e) => e.name), ['deep', 'x.txt', 'y.txt'])
    assert.deepEqual(ok(await files.list('b', { search: 'Y' })).map((e) => e.name), ['y.txt'])
    assert.deepEqual(ok(await files.list('', { search: 'txt' })), [])
    assert.deepEqual(
      ok(await files.list('', { limit: 2, offset: 1 })).map((e) => e.name),
      ['b', 'c.txt'],
    )
    assert.deepEqual(
      ok(await files.list('', { sortBy: { column: 'name', order: 'desc' } })).map((e) => e.name),
      ['d', 'c.txt', 'b', 'a.txt'],
    )
    const byCreated = ok(await files.list('', { sortBy: { column: 'created_at', order: 'asc' } }))
    assert.deepEqual(
      byCreated.filter((e) => e.id !== null).map((e) => e.name),
      ['c.txt', 'a.txt'],
    )
  })

  test('listV2: delimiter and cursor pagination', async () => {
    const files = admin.storage.from(bucket)
    const root = ok(await files.listV2({ prefix: '', with_delimiter: true }))
    assert.equal(root.hasNext, false)
    assert.deepEqual(root.folders.map((f) => f.name).sort(), ['b/', 'd/'])
    assert.deepEqual(root.objects.map((o) => o.key).sort(), ['a.txt', 'c.txt'])

    const names = []
    let cursor
    for (let page = 0; page < 10; page++) {
      const res = ok(await files.listV2({ limit: 4, ...(cursor ? { cursor } : {}) }))
      assert.ok(res.objects.length <= 4)
      names.push(...res.objects.map((o) => o.name))
      if (!res.hasNext) break
      assert.ok(res.nextCursor)
      cursor = res.nextCursor
    }
    assert.deepEqual(names, ['a.txt', 'b/deep/z.txt', 'b/x.txt', 'b/y.txt', 'c.txt', 'd/w.txt'])
  })

  test('anon sees nothing in a private bucket', async () => {
    assert.deepEqual(ok(await anon.storage.from(bucket).list()), [])
    const denied = failed(
      await anon.storage.from(bucket).upload('anon.txt', Buffer.from('x'), {
        contentType: 'text/plain',
      }),
      '403',
      'new row violates row-level security policy',
    )
    assert.equal(denied.code, 'AccessDenied')
  })
})

describe('signed and public URLs', () => {
  test('createSignedUrl(s) and fetch them', async () => {
    const bucket = await makeBucket('signed')
    const files = admin.storage.from(bucket)
    const bytes = randomBytes(20_000)
    ok(await files.upload('s/one.bin', bytes, { contentType: 'application/octet-stream' }))

    const { signedUrl } = ok(await files.createSignedUrl('s/one.bin', 60))
    assert.ok(signedUrl.startsWith(`${URL_}/storage/v1/object/sign/${bucket}/s/one.bin?token=`))
    let res = await fetch(signedUrl)
    assert.equal(res.status, 200)
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(bytes))

    const attach = ok(await files.createSignedUrl('s/one.bin', 60, { download: 'named.bin' }))
    res = await fetch(attach.signedUrl)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-disposition'), /^attachment/)
    assert.match(res.headers.get('content-disposition'), /filename=named\.bin/)
    await res.arrayBuffer()

    const many = ok(await files.createSignedUrls(['s/one.bin', 's/missing.bin'], 60))
    assert.equal(many.length, 2)
    const [found, missing] = many
    assert.equal(found.path, 's/one.bin')
    assert.equal(found.error, null)
    res = await fetch(found.signedUrl)
    assert.equal(res.status, 200)
    await res.arrayBuffer()
    assert.equal(missing.path, 's/missing.bin')
    assert.equal(missing.signedUrl, null)
    assert.equal(missing.error, 'Either the object does not exist or you do not have access to it')

    failed(await files.createSignedUrl('s/missing.bin', 60), '404', 'Object not found')
  })

  test('createSignedUploadUrl and uploadToSignedUrl', async () => {
    const bucket = await makeBucket('signed-up')
    const files = admin.storage.from(bucket)
    const signed = ok(await files.createSignedUploadUrl('up/file.txt'))
    assert.equal(signed.path, 'up/file.txt')
    assert.ok(signed.token)
    assert.ok(signed.signedUrl.includes(`/storage/v1/object/upload/sign/${bucket}/up/file.txt`))

    const res = ok(
      await files.uploadToSignedUrl('up/file.txt', signed.token, Buffer.from('signed bytes'), {
        contentType: 'text/plain',
      }),
    )
    assert.equal(res.path, 'up/file.txt')
    assert.equal(res.fullPath, `${bucket}/up/file.txt`)
    const down = ok(await files.download('up/file.txt'))
    assert.equal((await blobBytes(down)).toString(), 'signed bytes')
    assert.equal(ok(await files.info('up/file.txt')).contentType, 'text/plain')

    failed(await files.createSignedUploadUrl('up/file.txt'), '409', 'The resource already exists')
    const again = ok(await files.createSignedUploadUrl('up/file.txt', { upsert: true }))
    ok(
      await files.uploadToSignedUrl(
        'up/file.txt',
        again.token,
        new Blob([Buffer.from('replaced')], { type: 'text/plain' }),
      ),
    )
    assert.equal((await blobBytes(ok(await files.download('up/file.txt')))).toString(), 'replaced')
  })

  test('getPublicUrl: public bucket serves, private bucket refuses', async () => {
    const pub = await makeBucket('pub', { public: true })
    ok(await admin.storage.from(pub).upload('p.txt', Buffer.from('public'), { contentType: 'text/plain' }))
    const { publicUrl } = admin.storage.from(pub).getPublicUrl('p.txt').data
    assert.equal(publicUrl, `${URL_}/storage/v1/object/public/${pub}/p.txt`)
    let res = await fetch(publicUrl)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'public')

    const priv = await makeBucket('priv', { public: false })
    ok(await admin.storage.from(priv).upload('p.txt', Buffer.from('private'), { contentType: 'text/plain' }))
    res = await fetch(admin.storage.from(priv).getPublicUrl('p.txt').data.publicUrl)
    assert.equal(res.status, 400)
    const body = await res.json()
    assert.equal(body.statusCode, '404')
    assert.equal(body.error, 'Bucket not found')
    assert.equal(body.code, 'NoSuchBucket')
  })
})

// A 64x48 JPEG (red left half, blue right half), made with Pillow.
const CAT_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAAwAEADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDlaKKK+dP2YKKKKAOaooor+iD8ICiiigDpaKKK/nc/dwooooA5qiiiv6IPwgKKKKAOlooor+dz93CiiigDmqKKK/og/CAooooA/9k=',
  'base64',
)

// Width and height from a JPEG's start-of-frame marker.
function jpegSize(bytes) {
  let at = 2
  while (at < bytes.length) {
    const marker = bytes[at + 1]
    const length = bytes.readUInt16BE(at + 2)
    if (marker >= 0xc0 && marker <= 0xc3) {
      return [bytes.readUInt16BE(at + 7), bytes.readUInt16BE(at + 5)]
    }
    at += 2 + length
  }
  throw new Error('no SOF marker')
}

describe('image transformations', () => {
  test('download with transform: a resized JPEG, whatever the stored content type', async () => {
    const bucket = await makeBucket('render')
    const files = admin.storage.from(bucket)
    // A Buffer without contentType is stored as text/plain: the renderer reads the bytes.
    ok(await files.upload('cat.jpg', CAT_JPEG))
    const blob = ok(await files.download('cat.jpg', { transform: { width: 32, height: 32 } }))
    assert.equal(blob.type, 'image/jpeg')
    assert.deepEqual(jpegSize(await blobBytes(blob)), [32, 32])
    const contained = ok(
      await files.download('cat.jpg', { transform: { width: 32, height: 32, resize: 'contain' } }),
    )
    assert.deepEqual(jpegSize(await blobBytes(contained)), [32, 24])
    const controller = new AbortController()
    const withParams = ok(
      await files.download(
        'cat.jpg',
        { transform: { width: 16, height: 16 } },
        { signal: controller.signal, cache: 'no-store' },
      ),
    )
    assert.deepEqual(jpegSize(await blobBytes(withParams)), [16, 16])
    failed(await files.download('nope.jpg', { transform: { width: 10 } }), '404', 'Object not found')
  })

  test('createSignedUrl with transform renders the signed options', async () => {
    const bucket = await makeBucket('render-signed')
    const files = admin.storage.from(bucket)
    ok(await files.upload('cat.jpg', CAT_JPEG, { contentType: 'image/jpeg' }))
    const { signedUrl } = ok(
      await files.createSignedUrl('cat.jpg', 60, { transform: { width: 20, height: 20, quality: 60 } }),
    )
    assert.ok(signedUrl.startsWith(`${URL_}/storage/v1/render/image/sign/${bucket}/cat.jpg?token=`))
    const res = await fetch(signedUrl)
    assert.equal(res.status, 200)
    assert.ok(parseInt(res.headers.get('content-length'), 10) > 0)
    assert.equal(res.headers.get('x-transformations'), 'height:20,width:20,resizing_type:fill,quality:60')
    assert.deepEqual(jpegSize(Buffer.from(await res.arrayBuffer())), [20, 20])
  })

  test('getPublicUrl with transform, and WebP for clients that accept it', async () => {
    const pub = await makeBucket('render-pub', { public: true })
    ok(await admin.storage.from(pub).upload('c.jpg', CAT_JPEG, { contentType: 'image/jpeg' }))
    const { publicUrl } = admin.storage
      .from(pub)
      .getPublicUrl('c.jpg', { transform: { width: 20, height: 30, quality: 70 } }).data
    assert.equal(publicUrl, `${URL_}/storage/v1/render/image/public/${pub}/c.jpg?width=20&height=30&quality=70`)
    let res = await fetch(publicUrl)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'image/jpeg')
    assert.deepEqual(jpegSize(Buffer.from(await res.arrayBuffer())), [20, 30])

    const webp = createClient(URL_, SERVICE_KEY, { ...OPTIONS, global: { headers: { Accept: 'image/webp' } } })
    const files = webp.storage.from(pub)
    let blob = ok(await files.download('c.jpg', { transform: { width: 20, height: 20 } }))
    assert.equal(blob.type, 'image/webp')
    blob = ok(await files.download('c.jpg', { transform: { width: 20, height: 20, format: 'origin' } }))
    assert.equal(blob.type, 'image/jpeg')
  })
})
