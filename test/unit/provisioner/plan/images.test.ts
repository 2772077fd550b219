import t from 'tap';
import { defaultImageQuery, newestImage } from '../../../../provisioner/plan/images.js';

t.test('defaults: Debian 12 per architecture, the DLAMI Ubuntu 24.04 GPU image for GPU workers, by the publisher\'s account', async (t) => {
  t.match(defaultImageQuery('x86_64', false), { owners: ['136693071363'], namePattern: 'debian-12-amd64-*', architecture: 'x86_64' });
  t.match(defaultImageQuery('arm64', false), { owners: ['136693071363'], namePattern: 'debian-12-arm64-*', architecture: 'arm64' });
  t.match(defaultImageQuery('x86_64', true), { owners: ['898082745236'], namePattern: 'Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *' });
  t.match(defaultImageQuery('arm64', true), { owners: ['898082745236'], namePattern: 'Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *' });
});

t.test('the newest available image wins, by creation date then name', async (t) => {
  const pick = newestImage([
    { ImageId: 'ami-1', Name: 'debian-12-amd64-20250610-2140', CreationDate: '2025-06-10T21:40:00.000Z' },
    { ImageId: 'ami-2', Name: 'debian-12-amd64-20251020-2259', CreationDate: '2025-10-20T22:59:00.000Z' },
    { ImageId: 'ami-3', Name: 'debian-12-amd64-20251101-0000', CreationDate: '2025-11-01T00:00:00.000Z', State: 'pending' },
  ]);
  t.equal(pick?.ImageId, 'ami-2');
  t.equal(newestImage([]), undefined);
});
